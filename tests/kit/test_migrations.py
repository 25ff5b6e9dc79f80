"""Alembic is the only source of the schema, and it agrees with the models on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel

from app.kit.migrations import downgrade, migrations_at_head, upgrade
from app.search.schemas import compared_with_models


def _diff(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            opts = {"compare_type": True, "include_name": compared_with_models}
            ctx = MigrationContext.configure(conn, opts=opts)
            return list(compare_metadata(ctx, SQLModel.metadata))
    finally:
        engine.dispose()


def test_models_match_migrations(database_url: str) -> None:
    assert _diff(database_url) == []


def test_downgrade_to_base_then_upgrade_to_head(database_url: str) -> None:
    downgrade(database_url, "base")
    engine = create_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        assert not migrations_at_head(engine)
        upgrade(database_url, "head")
        assert migrations_at_head(engine)
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {t.name for t in SQLModel.metadata.sorted_tables} <= tables
    assert _diff(database_url) == []
