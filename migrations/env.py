"""Alembic environment: the project's metadata, batch mode on SQLite, concrete column types."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import JSON, engine_from_config, pool
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import app.tables  # noqa: F401  (registers every table on the metadata)
from app.kit.db import UTCDateTime
from app.search.schemas import compared_with_models

config = context.config
target_metadata = SQLModel.metadata


def _database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from app.kit.config import get_settings

    return get_settings().database_url


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write plain SQLAlchemy types into migrations, so they never import app code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, JSON):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')"
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def _configure(**kwargs: Any) -> None:
    url = kwargs.pop("url", None) or _database_url()
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=url.startswith("sqlite"),
        render_item=render_item,
        compare_type=True,
        # The search indexes (FTS5 tables, tsvector columns) are the migration's, not a model's.
        include_name=compared_with_models,
        **kwargs,
    )


def run_migrations_offline() -> None:
    url = _database_url()
    _configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _configure(connection=connectable, url=str(connectable.engine.url))
        with context.begin_transaction():
            context.run_migrations()
        return
    url = _database_url()
    section = {"sqlalchemy.url": url}
    engine = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as connection:
        _configure(connection=connection, url=url)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
