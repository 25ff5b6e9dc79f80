"""Settings, read from the environment with the ``INFOVIEW_`` prefix (and from ``.env``).

In development nothing has to be set: the database is ``var/infoview.db`` and a secret key is
generated on first start and kept in ``var/secret_key`` (mode 0600). In production a real key of
at least 32 bytes is required and the process refuses to start without one.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

VAR_DIR = Path(os.environ.get("INFOVIEW_VAR_DIR", "var"))
MIN_SECRET_BYTES = 32
_PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "changethis"}


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message says what to change."""


class Settings(BaseSettings):
    """Every knob of the service. Each one is listed in the README and in ``.env.example``."""

    model_config = SettingsConfigDict(
        env_prefix="INFOVIEW_", env_file=".env", extra="ignore", validate_default=True
    )

    env: Literal["development", "production", "test"] = "development"
    database_url: str = f"sqlite:///{VAR_DIR / 'infoview.db'}"
    secret_key: str = ""
    jwt_issuer: str = "infoview"
    jwt_audience: str = "infoview-api"
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=30, ge=1, le=365)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    log_level: str = "INFO"
    db_pool_size: int = Field(default=10, ge=1)
    redis_url: str | None = None
    rate_limit_auth_per_minute: int = Field(default=10, ge=1)
    rate_limit_writes_per_minute: int = Field(default=600, ge=1)
    # Namespace of the Redis keys, so deployments (or test runs) sharing a Redis stay apart.
    rate_limit_prefix: str = Field(default="infoview:ratelimit:", min_length=1)
    idempotency_hours: int = Field(default=24, ge=1)
    webhook_allow_private: bool = False
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_retry_schedule: list[int] = Field(default=[5, 30, 120, 600, 1800, 7200, 18000, 36000])
    run_dispatcher: bool = True

    @model_validator(mode="after")
    def _secret_key_is_usable(self) -> Settings:
        if self.env == "production":
            key = self.secret_key
            if len(key.encode()) < MIN_SECRET_BYTES or key.lower() in _PLACEHOLDER_SECRETS:
                raise ConfigError(
                    "INFOVIEW_SECRET_KEY must be set to a random value of at least "
                    f"{MIN_SECRET_BYTES} bytes when INFOVIEW_ENV=production "
                    "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
        elif not self.secret_key:
            self.secret_key = _development_secret()
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _development_secret() -> str:
    """Return the per-checkout development secret, creating ``var/secret_key`` (0600) once."""
    path = VAR_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
