"""Test fixtures: a real database per test (SQLite always, PostgreSQL when configured).

The schema is built by running the Alembic migrations, once per database per session. Each
test then starts from a clean database: on SQLite a fresh copy of the migrated file, on
PostgreSQL every table truncated. Every test that takes ``client`` runs on both databases.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url, text
from sqlmodel import SQLModel

import app.tables  # noqa: F401  (every table on the metadata, for TRUNCATE and migrations)
from app.kit.config import Settings
from app.kit.migrations import upgrade
from app.kit.security import use_fast_password_hashing
from app.main import create_app

# Thousands of registrations run here; production-strength argon2 would dominate the suite.
use_fast_password_hashing()

POSTGRES_URL = os.environ.get("INFOVIEW_TEST_POSTGRES_URL")
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
BACKENDS = ["sqlite", "postgresql"]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the figures tests recorded for the end of a run (the job-ask check's, say)."""
    lines = [
        str(value)
        for reports in terminalreporter.stats.values()
        for report in reports
        for name, value in getattr(report, "user_properties", ())
        if name == "job_ask_figures" and getattr(report, "when", "call") == "call"
    ]
    if lines:
        terminalreporter.write_sep("-", "figures")
        for line in sorted(set(lines)):
            terminalreporter.write_line(line)


def pytest_report_header(config: pytest.Config) -> str:
    if POSTGRES_URL:
        return f"infoview: PostgreSQL pass on {POSTGRES_URL}"
    return "infoview: PostgreSQL pass skipped (set INFOVIEW_TEST_POSTGRES_URL to run it)"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database file migrated to head, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A private PostgreSQL database for this test session, migrated to head, dropped after."""
    if not POSTGRES_URL:
        if os.environ.get("INFOVIEW_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail("INFOVIEW_TEST_REQUIRE_POSTGRES=1 but INFOVIEW_TEST_POSTGRES_URL is unset")
        pytest.skip("PostgreSQL pass skipped: INFOVIEW_TEST_POSTGRES_URL is not set")
    base = make_url(POSTGRES_URL)
    name = f"infoview_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def _truncate_postgres(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a clean, migrated database of each backend."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "infoview.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    _truncate_postgres(url)
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        secret_key=TEST_SECRET,
        run_dispatcher=False,
        webhook_allow_private=True,
        # Tests register many users from one address; the rate-limit tests set their own limits.
        rate_limit_auth_per_minute=100_000,
        rate_limit_writes_per_minute=1_000_000,
        # Never share counters with whatever Redis a developer's environment points at.
        redis_url=None,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """An HTTP client talking to the app through ASGI, on a clean database."""
    application = create_app(settings)
    with TestClient(application, raise_server_exceptions=False) as test_client:
        yield test_client
    application.state.engine.dispose()
