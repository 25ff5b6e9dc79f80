"""Probes: /healthz says the process is up; /readyz says the database is usable and migrated."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.kit.config import Settings
from app.kit.migrations import downgrade, upgrade
from app.main import create_app
from tests.conftest import TEST_SECRET
from tests.factories import assert_problem


def test_healthz(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert r.headers["x-request-id"]


def test_readyz_when_migrated(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ready"}


def test_readyz_is_503_when_migrations_are_pending(client: TestClient, database_url: str) -> None:
    downgrade(database_url, "base")
    try:
        r = client.get("/readyz")
        body = assert_problem(r, 503, "migrations_pending")
        assert "infoview migrate" in body["detail"]
        # Liveness does not depend on the database.
        assert client.get("/healthz").status_code == 200
    finally:
        upgrade(database_url, "head")
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_when_the_database_is_unreachable() -> None:
    settings = Settings(
        env="test",
        # Nothing listens on port 9 (discard) here: the connection is refused at once.
        database_url="postgresql+psycopg://nobody@127.0.0.1:9/nothing?connect_timeout=2",
        secret_key=TEST_SECRET,
        run_dispatcher=False,
    )
    application = create_app(settings)
    try:
        with TestClient(application, raise_server_exceptions=False) as client:
            r = client.get("/readyz")
            body = assert_problem(r, 503, "database_unreachable")
            assert "nobody" not in r.text and "127.0.0.1" not in r.text  # no connection details
            assert body["detail"]
            assert client.get("/healthz").status_code == 200
    finally:
        application.state.engine.dispose()
