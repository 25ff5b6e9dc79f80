"""Settings: a weak secret is refused everywhere but in tests; development makes one in var/ and
keeps it when none is set."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app.kit.config import MIN_SECRET_BYTES, ConfigError, Settings

ROOT = Path(__file__).resolve().parents[2]
INFOVIEW = Path(sys.executable).parent / "infoview"
GOOD_SECRET = "q3J8vX1mZr5TnYw0bLk2Hs7Pd9FgUeCa4Ri6OjNx"

WEAK_SECRETS = {
    "missing": None,
    "empty": "",
    "short": "too-short-a-secret",
    "31 bytes": "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1d",
    "placeholder": "changethis" * 4,
    "placeholder in caps": "CHANGEME-" * 5,
    "one character": "x" * 64,
    "a short pattern repeated": "0123456789" * 4,
    "the alphabet walked": "abcdefghijklmnopqrstuvwxyz0123456789",
}


def clean_environ(**extra: str) -> dict[str, str]:
    """The process environment without any INFOVIEW_ setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFOVIEW_")}
    env.update(extra)
    return env


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No INFOVIEW_ variable and no .env: the settings see only what a test sets."""
    for key in list(os.environ):
        if key.startswith("INFOVIEW_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFOVIEW_VAR_DIR", str(tmp_path / "var"))
    return tmp_path / "var"


class TestProductionSecret:
    @pytest.mark.parametrize("kind", list(WEAK_SECRETS))
    def test_a_weak_secret_refuses_to_start(
        self, isolated: Path, monkeypatch: pytest.MonkeyPatch, kind: str
    ) -> None:
        monkeypatch.setenv("INFOVIEW_ENV", "production")
        secret = WEAK_SECRETS[kind]
        if secret is not None:
            monkeypatch.setenv("INFOVIEW_SECRET_KEY", secret)
        with pytest.raises(ConfigError, match="INFOVIEW_SECRET_KEY") as caught:
            Settings()
        assert "INFOVIEW_ENV=production" in str(caught.value)
        assert "32 bytes" in str(caught.value)
        # Production never falls back to a generated key.
        assert not (isolated / "secret_key").exists()

    def test_a_random_secret_is_accepted(
        self, isolated: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("INFOVIEW_ENV", "production")
        monkeypatch.setenv("INFOVIEW_SECRET_KEY", GOOD_SECRET)
        settings = Settings()
        assert settings.secret_key == GOOD_SECRET
        assert not (isolated / "secret_key").exists()

    @pytest.mark.parametrize("secret", [None, "changethis"])
    def test_infoview_serve_exits_with_the_message(
        self, tmp_path: Path, secret: str | None
    ) -> None:
        env = clean_environ(INFOVIEW_ENV="production", INFOVIEW_VAR_DIR=str(tmp_path / "var"))
        if secret is not None:
            env["INFOVIEW_SECRET_KEY"] = secret
        proc = subprocess.run(
            [str(INFOVIEW), "serve", "--port", "0"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode != 0
        assert "INFOVIEW_SECRET_KEY" in proc.stderr
        assert "at least 32 bytes" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert "Uvicorn running" not in proc.stderr


class TestSecretOutsideProduction:
    """A key that is set is held to the same rule in development; tests may use any."""

    @pytest.mark.parametrize("kind", [k for k in WEAK_SECRETS if WEAK_SECRETS[k]])
    def test_a_weak_secret_refuses_to_start_in_development(
        self, isolated: Path, monkeypatch: pytest.MonkeyPatch, kind: str
    ) -> None:
        monkeypatch.setenv("INFOVIEW_SECRET_KEY", str(WEAK_SECRETS[kind]))
        with pytest.raises(ConfigError, match="INFOVIEW_SECRET_KEY") as caught:
            Settings()
        message = str(caught.value)
        assert "INFOVIEW_ENV=development" in message and "32 bytes" in message
        assert "leave it unset" in message
        assert not (isolated / "secret_key").exists()

    def test_a_one_character_secret_is_refused(
        self, isolated: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("INFOVIEW_SECRET_KEY", "x")
        with pytest.raises(ConfigError, match="only 1 byte long"):
            Settings()

    def test_tests_may_use_any_secret(
        self, isolated: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("INFOVIEW_ENV", "test")
        monkeypatch.setenv("INFOVIEW_SECRET_KEY", "x")
        assert Settings().secret_key == "x"

    def test_a_weak_generated_key_file_is_refused(self, isolated: Path) -> None:
        isolated.mkdir(parents=True)
        (isolated / "secret_key").write_text("dev\n")
        with pytest.raises(ConfigError, match="secret_key is only 3 bytes long; delete it"):
            Settings()

    def test_infoview_serve_exits_with_the_message(self, tmp_path: Path) -> None:
        env = clean_environ(INFOVIEW_VAR_DIR=str(tmp_path / "var"), INFOVIEW_SECRET_KEY="x")
        proc = subprocess.run(
            [str(INFOVIEW), "serve", "--port", "0"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode != 0
        assert "INFOVIEW_SECRET_KEY is only 1 byte long" in proc.stderr
        assert "INFOVIEW_ENV=development" in proc.stderr
        assert "Traceback" not in proc.stderr


class TestDevelopmentSecret:
    def test_is_generated_with_mode_0600_and_reused(self, isolated: Path) -> None:
        first = Settings()
        path = isolated / "secret_key"
        assert path.exists()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(first.secret_key.encode()) >= MIN_SECRET_BYTES
        assert path.read_text().strip() == first.secret_key
        assert Settings().secret_key == first.secret_key

    def test_survives_a_restart(self, tmp_path: Path) -> None:
        """Two processes in a row (two starts of the service) sign with the same key."""
        env = clean_environ(INFOVIEW_VAR_DIR=str(tmp_path / "var"))
        script = "from app.kit.config import Settings; print(Settings().secret_key)"
        keys = [
            subprocess.run(
                [sys.executable, "-c", script],
                cwd=tmp_path,
                env={**env, "PYTHONPATH": str(ROOT)},
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout.strip()
            for _ in range(2)
        ]
        assert keys[0] and keys[0] == keys[1]
        assert (tmp_path / "var" / "secret_key").read_text().strip() == keys[0]

    def test_an_explicit_secret_is_used_and_nothing_is_written(
        self, isolated: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("INFOVIEW_SECRET_KEY", GOOD_SECRET)
        assert Settings().secret_key == GOOD_SECRET
        assert not (isolated / "secret_key").exists()

    def test_the_database_lives_in_the_var_dir(self, isolated: Path) -> None:
        assert Settings().database_url == f"sqlite:///{isolated / 'infoview.db'}"

    def test_the_database_url_setting_wins(
        self, isolated: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("INFOVIEW_DATABASE_URL", "sqlite:///elsewhere.db")
        assert Settings().database_url == "sqlite:///elsewhere.db"

    def test_dot_env_is_read(self, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        (isolated.parent / ".env").write_text("INFOVIEW_ACCESS_TOKEN_MINUTES=5\n")
        assert Settings().access_token_minutes == 5


def test_every_setting_is_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / ".env.example").read_text()
    example_names = {
        line.split("=", 1)[0] for line in example.splitlines() if line and line[0] != "#"
    }
    for name in Settings.model_fields:
        variable = f"INFOVIEW_{name.upper()}"
        assert f"`{variable}`" in readme, f"{variable} is missing from the README's table"
        assert variable in example_names, f"{variable} is missing from .env.example"
