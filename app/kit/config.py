"""Settings, read from the environment with the ``INFOVIEW_`` prefix (and from ``.env``).

In development nothing has to be set: the database is ``var/infoview.db`` and a secret key is
generated on first start and kept in ``var/secret_key`` (mode 0600). A key that is set must be
a random value of at least 32 bytes in every environment but ``test``, or the process refuses to
start; in production it must be set.
"""

from __future__ import annotations

import itertools
import os
import secrets
import time
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_BYTES = 32
_PLACEHOLDER_SECRETS = ("changeme", "change-me", "change_me", "changethis", "placeholder")


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message says what to change."""


class Settings(BaseSettings):
    """Every knob of the service. Each one is listed in the README and in ``.env.example``."""

    model_config = SettingsConfigDict(
        env_prefix="INFOVIEW_", env_file=".env", extra="ignore", validate_default=True
    )

    env: Literal["development", "production", "test"] = "development"
    # Read with the other settings (not at import time), so INFOVIEW_VAR_DIR in .env works too.
    var_dir: Path = Path("var")
    database_url: str = Field(
        default_factory=lambda data: f"sqlite:///{Path(data['var_dir']) / 'infoview.db'}"
    )
    secret_key: str = ""
    jwt_issuer: str = "infoview"
    jwt_audience: str = "infoview-api"
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=30, ge=1, le=365)
    # A session (one login) ends this long after the login, however often it was refreshed.
    session_lifetime_days: float = Field(default=30, gt=0, le=3650)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # A contact file sent to the import: streamed, spooled to disk, never held in memory.
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    # One document (a résumé, a portfolio) uploaded to /documents, and what one user may keep.
    max_document_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_documents_per_user: int = Field(default=20, ge=1)
    max_document_storage_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    log_level: str = "INFO"
    # FastAPI's own OpenTelemetry: a span, metrics and logs per request, sent to the providers
    # this process sets up (the SDK, or opentelemetry-instrument). Off unless asked for: on, it
    # asks the global providers on every request whether any is set up.
    opentelemetry: bool = False
    db_pool_size: int = Field(default=10, ge=1)
    # How long a statement waits for a lock another transaction holds (SQLite's busy timeout,
    # PostgreSQL's lock_timeout) before the request gives up with a 503 and Retry-After.
    db_lock_timeout_ms: int = Field(default=1000, ge=1, le=60_000)
    # The longest one statement may run on PostgreSQL (statement_timeout), then a 503.
    db_statement_timeout_ms: int = Field(default=30_000, ge=100, le=600_000)
    redis_url: str | None = None
    # The server's mail relay for letters sent with delivery=email, e.g.
    # smtp://user:password@smtp.example.com:587?starttls=true (or smtps://…:465). Unset: letters
    # go out only through users' own mailboxes.
    smtp_url: str | None = None
    # The address the relay sends from; the user's name goes with it, their address in Reply-To.
    smtp_from: str | None = None
    # Let users' own mailboxes be on private or loopback addresses (a company's internal relay;
    # tests). Off by default: a user-given host is otherwise a way into the server's network.
    mail_allow_private_hosts: bool = False
    rate_limit_auth_per_minute: int = Field(default=10, ge=1)
    rate_limit_writes_per_minute: int = Field(default=600, ge=1)
    # Namespace of the Redis keys, so deployments (or test runs) sharing a Redis stay apart.
    rate_limit_prefix: str = Field(default="infoview:ratelimit:", min_length=1)
    idempotency_hours: int = Field(default=24, ge=1)
    webhook_allow_private: bool = False
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_retry_schedule: list[int] = Field(default=[5, 30, 120, 600, 1800, 7200, 18000, 36000])
    run_dispatcher: bool = True
    # When set, GET /metrics answers only requests with "Authorization: Bearer <this token>".
    metrics_token: str | None = None
    # Where clients reach this API from outside (https://api.example.com, behind a proxy):
    # links handed out for use elsewhere (the calendar feed's URL) start with it. Unset: the
    # base URL of the request that asked for the link.
    public_base_url: str | None = None

    @field_validator("public_base_url")
    @classmethod
    def _public_base_url_is_absolute(cls, value: str | None) -> str | None:
        if not value:
            return None
        value = value.strip().rstrip("/")
        scheme, _, rest = value.partition("://")
        if scheme.lower() not in ("http", "https") or not rest or any(c in rest for c in "?# "):
            raise ValueError(
                "INFOVIEW_PUBLIC_BASE_URL must be an absolute http(s) URL without a query, "
                "such as https://api.example.com"
            )
        return value

    @model_validator(mode="after")
    def _secret_key_is_usable(self) -> Settings:
        if not self.secret_key and self.env != "production":
            self.secret_key = _development_secret(self.var_dir)
            problem = None if self.env == "test" else _weak_secret(self.secret_key)
            if problem:  # var/secret_key was edited by hand
                raise ConfigError(
                    f"{self.var_dir / 'secret_key'} {problem}; delete it and a new key is "
                    "generated on the next start"
                )
            return self
        problem = None if self.env == "test" else _weak_secret(self.secret_key)
        if problem:
            unset = "" if self.env == "production" else " (or leave it unset: one is generated)"
            raise ConfigError(
                f"INFOVIEW_SECRET_KEY {problem}. With INFOVIEW_ENV={self.env} it must be a "
                f"random value of at least {MIN_SECRET_BYTES} bytes{unset}, for example: "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _weak_secret(key: str) -> str | None:
    """Why ``key`` cannot sign tokens, or ``None`` when it can."""
    if not key:
        return "is not set"
    raw = key.encode()
    if len(raw) < MIN_SECRET_BYTES:
        return f"is only {len(raw)} byte{'s' * (len(raw) != 1)} long"
    # A placeholder repeated to the right length ("changethischangethis...") or a run of one
    # character has too few distinct characters to be random.
    if any(word in key.lower() for word in _PLACEHOLDER_SECRETS) or len(set(key)) < 10:
        return "looks like a placeholder, not a random value"
    # Random bytes do not compress; a short pattern repeated ("0123456789" * 4) does. Nor do
    # they walk the alphabet: "abcdefgh…" has almost every neighbour one step from the last.
    steps = sum(abs(a - b) <= 1 for a, b in itertools.pairwise(raw))
    if len(zlib.compress(raw, 9)) < 0.75 * len(raw) or steps * 2 > len(raw):
        return "repeats a pattern, not a random value"
    return None


def _development_secret(var_dir: Path) -> str:
    """Return the per-checkout development secret, creating ``var/secret_key`` (0600) once."""
    path = var_dir / "secret_key"
    if path.exists():
        return _read_secret(path)
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker process made it first: use theirs
        return _read_secret(path)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


def _read_secret(path: Path) -> str:
    # The process that created the file may not have written it yet: give it a moment.
    for _ in range(50):
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.02)
    raise ConfigError(f"{path} is empty; delete it and a new development key is generated")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
