"""The ``infoview`` command: migrate, serve's start-up checks, create-user, openapi [--check].

The console script itself is run once as a subprocess (it is what people type); the other
cases call its ``main()`` in this process, which is the same code without the start-up cost.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, make_url, text

from app.cli import main
from app.kit.config import get_settings
from app.kit.db import get_engine
from app.kit.migrations import alembic_config, migrations_at_head, upgrade
from tests.conftest import BACKENDS, POSTGRES_URL, TEST_SECRET
from tests.factories import assert_problem, login

ROOT = Path(__file__).resolve().parent.parent
INFOVIEW = Path(sys.executable).parent / "infoview"
COMMITTED = ROOT / "openapi" / "openapi.json"


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """A clean INFOVIEW_ environment for in-process runs; settings re-read before and after."""
    for key in list(os.environ):
        if key.startswith("INFOVIEW_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("INFOVIEW_ENV", "test")
    monkeypatch.setenv("INFOVIEW_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("INFOVIEW_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield monkeypatch
    get_engine(get_settings()).dispose()
    get_settings.cache_clear()


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


class TestMigrate:
    def test_the_console_script_migrates_a_new_sqlite_database(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'new' / 'infoview.db'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("INFOVIEW_")}
        env.update(INFOVIEW_DATABASE_URL=url, INFOVIEW_VAR_DIR=str(tmp_path / "var"))
        proc = subprocess.run(
            [str(INFOVIEW), "migrate"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert "database at head" in proc.stdout
        assert {"user_account", "refresh_token", "alembic_version"} <= tables(url)
        engine = create_engine(url)
        try:
            assert migrations_at_head(engine)
        finally:
            engine.dispose()

    def test_down_and_up_again(
        self, environment: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        url = f"sqlite:///{tmp_path / 'infoview.db'}"
        environment.setenv("INFOVIEW_DATABASE_URL", url)
        assert main(["migrate"]) == 0
        assert main(["migrate"]) == 0  # at head already: nothing to do, still fine
        assert main(["migrate", "--downgrade"]) == 0
        assert tables(url) <= {"alembic_version"}
        assert main(["migrate", "head"]) == 0
        assert "user_account" in tables(url)
        assert "database at head" in capsys.readouterr().out


@pytest.fixture(params=BACKENDS)
def unmigrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend: no schema, no migration recorded."""
    if request.param == "sqlite":
        path = tmp_path / "empty.db"
        create_engine(f"sqlite:///{path}").connect().close()
        yield f"sqlite:///{path}"
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL pass skipped: INFOVIEW_TEST_POSTGRES_URL is not set")
    name = f"infoview_unmigrated_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def one_before_head() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision("head")
    assert head is not None and isinstance(head.down_revision, str)
    return head.down_revision


class TestServeNeedsAMigratedDatabase:
    """``infoview serve`` refuses to start on a schema behind the code, and says what to run;
    ``make run`` migrates first, so it always starts."""

    def test_an_empty_database_is_refused(
        self,
        environment: pytest.MonkeyPatch,
        unmigrated_url: str,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        environment.setenv("INFOVIEW_DATABASE_URL", unmigrated_url)
        assert main(["serve", "--port", "0"]) == 1
        err = capsys.readouterr().err
        assert "not migrated" in err and "run `infoview migrate`" in err
        assert "Traceback" not in err

    def test_a_database_behind_head_is_refused(
        self,
        environment: pytest.MonkeyPatch,
        unmigrated_url: str,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        upgrade(unmigrated_url, one_before_head())
        environment.setenv("INFOVIEW_DATABASE_URL", unmigrated_url)
        assert main(["serve", "--port", "0"]) == 1
        assert "run `infoview migrate`" in capsys.readouterr().err

    def test_an_unreachable_database_is_refused_with_the_reason(
        self, environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        url = "postgresql+psycopg://infoview:hunter2@127.0.0.1:1/infoview"
        environment.setenv("INFOVIEW_DATABASE_URL", url)
        assert main(["serve", "--port", "0"]) == 1
        err = capsys.readouterr().err
        assert "cannot check the database's schema" in err and "127.0.0.1:1" in err
        assert "hunter2" not in err and "Traceback" not in err

    def test_a_missing_sqlite_file_is_refused_and_not_created(
        self, environment: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = tmp_path / "nowhere" / "infoview.db"
        environment.setenv("INFOVIEW_DATABASE_URL", f"sqlite:///{path}")
        assert main(["serve", "--port", "0"]) == 1
        err = capsys.readouterr().err
        assert "does not exist yet" in err and "run `infoview migrate`" in err
        assert not path.exists()


class TestCreateUser:
    def test_the_new_user_logs_in_through_the_api(
        self,
        environment: pytest.MonkeyPatch,
        database_url: str,
        client: TestClient,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        environment.setenv("INFOVIEW_DATABASE_URL", database_url)
        code = main(
            ["create-user", "Grace@Example.com", "--name", "Grace", "--password", "cobol forever"]
        )
        assert code == 0
        assert "created user grace@example.com" in capsys.readouterr().out
        tokens = login(client, "grace@example.com", "cobol forever")
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert me.status_code == 200
        assert me.json()["email"] == "grace@example.com"
        assert me.json()["full_name"] == "Grace"
        r = client.post(
            "/api/v1/auth/token", data={"username": "grace@example.com", "password": "x"}
        )
        assert_problem(r, 401, "invalid_credentials")

    def test_a_taken_email_is_refused(
        self,
        environment: pytest.MonkeyPatch,
        database_url: str,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        environment.setenv("INFOVIEW_DATABASE_URL", database_url)
        assert main(["create-user", "grace@example.com", "--password", "cobol forever"]) == 0
        assert main(["create-user", "GRACE@example.com", "--password", "cobol forever"]) == 1
        assert "already exists" in capsys.readouterr().err

    @pytest.mark.parametrize(
        "args",
        [["grace@example.com", "--password", "short"], ["not-an-email", "--password", "x" * 8]],
    )
    def test_invalid_input_is_refused(
        self,
        environment: pytest.MonkeyPatch,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        args: list[str],
    ) -> None:
        environment.setenv("INFOVIEW_DATABASE_URL", f"sqlite:///{tmp_path / 'unused.db'}")
        assert main(["create-user", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("infoview:")
        assert "Traceback" not in err


class TestOpenapi:
    def test_check_passes_only_when_the_file_matches(
        self,
        environment: pytest.MonkeyPatch,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        # Rendering the document takes a while: every step below renders it once.
        target = tmp_path / "openapi" / "openapi.json"
        assert main(["openapi", "--output", str(target)]) == 0
        document = target.read_text()
        assert document.startswith("{") and '"operationId": "me-get"' in document
        assert main(["openapi", "--check", "--output", str(target)]) == 0
        target.write_text(document.replace('"Infoview"', '"Infoview (edited)"', 1))
        assert main(["openapi", "--check", "--output", str(target)]) == 1
        assert "out of date" in capsys.readouterr().err
        # Without --output it checks the committed document, and agrees with a byte comparison.
        environment.chdir(ROOT)
        expected = 0 if COMMITTED.read_text() == document else 1
        assert main(["openapi", "--check"]) == expected


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    for command in ("serve", "migrate", "openapi", "create-user"):
        assert command in err
