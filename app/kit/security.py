"""Passwords and JSON Web Tokens, in one place.

Every JWT is made and read here: HS256 only (``algorithms=["HS256"]`` on every decode, so a
token signed with ``none`` or another algorithm is refused), and ``exp``, ``iat``, ``sub``,
``iss``, ``aud``, ``jti`` and ``typ`` are required on every token.

An access token names the session it belongs to (``sid``: the refresh-token family of the
login), so ending the session ends it too; a refresh token names its family (``fam``) and when
the session's login happened (``auth_time``), which bounds the session's whole life.

Password hashes are made and checked through :class:`PasswordWork`: in a worker thread, a few
at a time.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Literal, ParamSpec, TypeVar

import anyio
from jose import JWTError, jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from app.kit.config import Settings
from app.kit.db import utcnow
from app.kit.errors import ServiceUnavailable

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("exp", "iat", "sub", "iss", "aud", "jti", "typ")
TokenType = Literal["access", "refresh"]

_password_hash = PasswordHash((Argon2Hasher(),))
# Verified when the email is unknown, so both failures of a login take the same time. Made on
# first use rather than at import: a hash costs a second of start-up on a busy machine.
_dummy_hash: str | None = None


def _dummy() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _password_hash.hash(secrets.token_urlsafe(16))
    return _dummy_hash


def use_fast_password_hashing() -> None:
    """Switch to the cheapest argon2id parameters. For test suites only, never a server.

    Hashes carry their own parameters, so existing hashes still verify afterwards.
    """
    global _password_hash, _dummy_hash
    _password_hash = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    _dummy_hash = None


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return _password_hash.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Check a password; with no hash, burn the same time on a dummy one and fail."""
    if password_hash is None:
        _password_hash.verify(password, _dummy())
        return False
    try:
        return _password_hash.verify(password, password_hash)
    except Exception:  # a malformed stored hash is a failed login, never a 500
        return False


P = ParamSpec("P")
T = TypeVar("T")


class PasswordWork:
    """Where the work that hashes or checks a password runs: a worker thread, at most
    ``at_once`` of them at a time in this process.

    argon2id holds 64 MiB and a core for tens of milliseconds for each hash it makes or checks.
    Unbounded, a burst of logins from many addresses (each within its own rate limit) would take
    memory and threads in proportion to the burst. The next ones wait their turn on the event
    loop, without a thread; past ``waiting`` of them a request is answered at once with a 503
    ``password_checks_busy`` and ``Retry-After``, nothing done.
    """

    def __init__(self, at_once: int = 2, waiting: int = 64) -> None:
        self.at_once, self.waiting = at_once, waiting
        self._limiter: anyio.CapacityLimiter | None = None

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        """The threads' limiter, made on first use (inside the server's event loop)."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.at_once)
        return self._limiter

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` in a worker thread, when one of the ``at_once`` is free."""
        limiter = self.limiter
        if limiter.available_tokens == 0 and limiter.statistics().tasks_waiting >= self.waiting:
            raise ServiceUnavailable(
                "Too many passwords are being checked at once; retry in a moment.",
                code="password_checks_busy",
                headers={"Retry-After": "1"},
            )
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=limiter)


def sha256_hex(value: str) -> str:
    """The hex SHA-256 of a secret; how opaque tokens are stored."""
    return hashlib.sha256(value.encode()).hexdigest()


class InvalidToken(Exception):
    """The token is missing a claim, expired, badly signed or of the wrong type."""


@dataclass(frozen=True)
class TokenClaims:
    """The claims of a verified token."""

    subject: uuid.UUID
    token_id: uuid.UUID
    token_type: TokenType
    issued_at: datetime
    expires_at: datetime
    family_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    authenticated_at: datetime | None = None


def create_token(
    settings: Settings,
    *,
    subject: uuid.UUID,
    token_type: TokenType,
    lifetime: timedelta,
    token_id: uuid.UUID | None = None,
    family_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
    authenticated_at: datetime | None = None,
) -> tuple[str, TokenClaims]:
    """Sign a token for ``subject``; return it with its claims."""
    now = utcnow().replace(microsecond=0)
    claims = TokenClaims(
        subject=subject,
        token_id=token_id or uuid.uuid4(),
        token_type=token_type,
        issued_at=now,
        expires_at=now + lifetime,
        family_id=family_id,
        session_id=session_id,
        authenticated_at=authenticated_at,
    )
    payload: dict[str, Any] = {
        "sub": str(subject),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": int(now.timestamp()),
        "exp": int(claims.expires_at.timestamp()),
        "jti": str(claims.token_id),
        "typ": token_type,
    }
    if family_id is not None:
        payload["fam"] = str(family_id)
    if session_id is not None:
        payload["sid"] = str(session_id)
    if authenticated_at is not None:
        payload["auth_time"] = int(authenticated_at.timestamp())
    return jwt.encode(payload, settings.secret_key, algorithm=ALGORITHM), claims


# Access tokens already verified by this process, with their expiry: a client sends the same
# token with every request for its whole lifetime, and checking an HMAC signature and seven
# claims each time costs more than the query the request is for. Keyed by everything the
# verification depended on; bounded, and emptied when full.
_VERIFIED_ACCESS: dict[tuple[str, str, str, str], tuple[TokenClaims, float]] = {}
_VERIFIED_ACCESS_MAX = 10_000


def decode_access_token(settings: Settings, token: str) -> TokenClaims:
    """:func:`decode_token` for access tokens, remembering the ones this process has verified.

    A remembered token is still refused the moment it expires. Its signature and claims
    cannot change while it is valid; what can (the user being deleted, its session ended) is
    checked against the database on every request, by the statement that serves it.
    """
    key = (token, settings.secret_key, settings.jwt_audience, settings.jwt_issuer)
    known = _VERIFIED_ACCESS.get(key)
    if known is not None:
        claims, expires = known
        if time.time() < expires:
            return claims
        _VERIFIED_ACCESS.pop(key, None)
        raise InvalidToken("Signature has expired.")
    claims = decode_token(settings, token, expected_type="access")
    if len(_VERIFIED_ACCESS) >= _VERIFIED_ACCESS_MAX:
        _VERIFIED_ACCESS.clear()
    _VERIFIED_ACCESS[key] = (claims, claims.expires_at.timestamp())
    return claims


def decode_token(settings: Settings, token: str, *, expected_type: TokenType) -> TokenClaims:
    """Verify signature, algorithm, audience, issuer, expiry, required claims and type."""
    try:
        payload = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require_" + claim: True for claim in REQUIRED_CLAIMS if claim != "typ"},
        )
    except JWTError as exc:
        raise InvalidToken(str(exc)) from exc
    if any(claim not in payload for claim in REQUIRED_CLAIMS):
        raise InvalidToken("a required claim is missing")
    if payload["typ"] != expected_type:
        raise InvalidToken(f"expected a {expected_type} token")
    # RFC 7519: not accepted on or after exp. python-jose refuses only once exp has passed,
    # which would let a token through during the second of its expiry.
    if not isinstance(payload["exp"], int) or payload["exp"] <= time.time():
        raise InvalidToken("Signature has expired.")
    try:
        return TokenClaims(
            subject=uuid.UUID(payload["sub"]),
            token_id=uuid.UUID(payload["jti"]),
            token_type=payload["typ"],
            issued_at=datetime.fromtimestamp(int(payload["iat"]), UTC),
            expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
            family_id=uuid.UUID(payload["fam"]) if payload.get("fam") else None,
            session_id=uuid.UUID(payload["sid"]) if payload.get("sid") else None,
            authenticated_at=(
                datetime.fromtimestamp(int(payload["auth_time"]), UTC)
                if payload.get("auth_time") is not None
                else None
            ),
        )
    except (ValueError, TypeError, AttributeError, OverflowError, OSError) as exc:
        raise InvalidToken("malformed claim") from exc
