"""Accounts and sessions: register, log in, rotate refresh tokens, log out.

A session is one login: its refresh tokens form a family, and its access tokens name it
(``sid``). Logging out, or a rotated refresh token used again, revokes the family, and every
access token of the session stops working on its next request (``schemas.session_not_revoked``
is part of every statement that checks the caller). Rotation slides a session's refresh
expiry, never beyond ``session_lifetime_days`` after the login: then refreshing is refused and
the user logs in again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.accounts.repository import RefreshTokenRepository, UserRepository
from app.accounts.schemas import RefreshToken, UserAccount, UserCreate, UserUpdate
from app.kit.config import Settings
from app.kit.db import utcnow
from app.kit.errors import Conflict, Unauthorized
from app.kit.queries import CALLER_SESSION, caller_row, connection_of
from app.kit.security import (
    InvalidToken,
    TokenClaims,
    create_token,
    decode_access_token,
    decode_token,
    hash_password,
    sha256_hex,
    verify_password,
)


@dataclass(frozen=True)
class TokenPair:
    """What a successful login or refresh hands back."""

    access_token: str
    refresh_token: str
    expires_in: int


def normalise_email(email: str) -> str:
    """Emails are compared and stored case-insensitively."""
    return email.strip().lower()


def register(session: Session, data: UserCreate) -> UserAccount:
    """Create an account; an email already taken (in any case) is a 409."""
    users = UserRepository(session)
    email = normalise_email(str(data.email))
    if users.email_taken(email):
        raise Conflict("An account with this email already exists.", code="email_taken")
    user = UserAccount(
        email=email,
        full_name=data.full_name,
        password_hash=hash_password(data.password),
        time_zone=data.time_zone,
    )
    users.add(user)
    try:
        session.commit()
    except IntegrityError as exc:  # a concurrent registration won the race
        session.rollback()
        raise Conflict("An account with this email already exists.", code="email_taken") from exc
    return user


def authenticate(session: Session, email: str, password: str) -> UserAccount:
    """Check credentials. Unknown email and wrong password look and take the same."""
    user = UserRepository(session).by_email(normalise_email(email))
    if not verify_password(password, user.password_hash if user else None) or user is None:
        raise Unauthorized("Incorrect email or password.", code="invalid_credentials")
    return user


def _issue(
    tokens: RefreshTokenRepository,
    settings: Settings,
    user_id: uuid.UUID,
    family_id: uuid.UUID,
    authenticated_at: datetime,
) -> TokenPair:
    access, _ = create_token(
        settings,
        subject=user_id,
        token_type="access",
        lifetime=timedelta(minutes=settings.access_token_minutes),
        session_id=family_id,
    )
    refresh, claims = create_token(
        settings,
        subject=user_id,
        token_type="refresh",
        lifetime=timedelta(days=settings.refresh_token_days),
        family_id=family_id,
        authenticated_at=authenticated_at,
    )
    tokens.add(
        RefreshToken(
            id=claims.token_id,
            user_id=user_id,
            family_id=family_id,
            token_hash=sha256_hex(refresh),
            expires_at=claims.expires_at,
        )
    )
    return TokenPair(access, refresh, settings.access_token_minutes * 60)


def login(session: Session, settings: Settings, user: UserAccount) -> TokenPair:
    """Start a new session (a new refresh-token family) for an authenticated user."""
    now = utcnow().replace(microsecond=0)
    pair = _issue(RefreshTokenRepository(session), settings, user.id, uuid.uuid4(), now)
    session.commit()
    return pair


def _stored_refresh(
    tokens: RefreshTokenRepository, settings: Settings, token: str
) -> tuple[RefreshToken, TokenClaims]:
    try:
        claims = decode_token(settings, token, expected_type="refresh")
    except InvalidToken as exc:
        raise Unauthorized(
            "The refresh token is invalid or expired.", code="invalid_token"
        ) from exc
    stored = tokens.get(claims.token_id)
    if stored is None or stored.token_hash != sha256_hex(token) or stored.revoked_at is not None:
        raise Unauthorized("The refresh token is invalid or expired.", code="invalid_token")
    return stored, claims


def refresh(session: Session, settings: Settings, token: str) -> TokenPair:
    """Rotate a refresh token. A token used twice revokes its whole family; a session older
    than ``session_lifetime_days`` is refused (``session_expired``)."""
    tokens = RefreshTokenRepository(session)
    stored, claims = _stored_refresh(tokens, settings, token)
    now = utcnow()
    # A token issued before sessions carried their login time counts from its own issue.
    authenticated_at = claims.authenticated_at or claims.issued_at
    if now >= authenticated_at + timedelta(days=settings.session_lifetime_days):
        raise Unauthorized(
            "This session has reached its maximum lifetime; log in again.",
            code="session_expired",
        )
    # Compare-and-set, so two concurrent uses of one token cannot both succeed.
    if not tokens.mark_rotated(stored.id, now):
        tokens.revoke_family(stored.family_id)
        session.commit()
        raise Unauthorized(
            "This refresh token was already used; every session of its family is now revoked.",
            code="refresh_token_reused",
        )
    pair = _issue(tokens, settings, stored.user_id, stored.family_id, authenticated_at)
    session.commit()
    return pair


def logout(session: Session, settings: Settings, token: str) -> None:
    """End the session of the given refresh token: its family is revoked, and its access
    tokens stop working at once."""
    tokens = RefreshTokenRepository(session)
    stored, _ = _stored_refresh(tokens, settings, token)
    tokens.revoke_family(stored.family_id)
    session.commit()


_USERS = UserAccount.__table__  # type: ignore[attr-defined]
# The caller's row, as every caller-checked read has it: the account exists and its session
# has not ended.
_LIVE_CALLER = (
    _USERS.select().with_only_columns(_USERS.c.id).where(caller_row(_USERS, bindparam("user_id")))
)


def live_access_claims(db: Session | Connection, settings: Settings, token: str) -> TokenClaims:
    """The claims of an access token whose account exists and whose session has not ended;
    anything wrong is a 401.

    Only the id is read: most operations need nothing else about the caller, and a
    one-column primary-key lookup is the cheapest proof that the account still exists.
    """
    try:
        claims = decode_access_token(settings, token)
    except InvalidToken as exc:
        raise Unauthorized("The access token is invalid or expired.", code="invalid_token") from exc
    params = {"user_id": claims.subject, CALLER_SESSION: claims.session_id}
    if connection_of(db).execute(_LIVE_CALLER, params).first() is None:
        raise Unauthorized("The access token is invalid or expired.", code="invalid_token")
    return claims


def update_profile(session: Session, user: UserAccount, data: UserUpdate) -> UserAccount:
    """Change the fields of the caller's profile that were sent; one commit."""
    changes = data.model_dump(exclude_unset=True)
    if changes:
        for name, value in changes.items():
            setattr(user, name, value)
        user.updated_at = utcnow()
        session.commit()
    return user


def delete_account(session: Session, user: UserAccount) -> None:
    """Delete an account and everything it owns."""
    UserRepository(session).delete(user)
    session.commit()
