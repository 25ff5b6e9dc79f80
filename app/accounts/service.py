"""Accounts and sessions: register, log in, rotate refresh tokens, log out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, bindparam, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.accounts.schemas import RefreshToken, UserAccount, UserCreate
from app.kit.config import Settings
from app.kit.db import utcnow
from app.kit.errors import Conflict, Unauthorized
from app.kit.queries import connection_of
from app.kit.security import (
    InvalidToken,
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
    email = normalise_email(str(data.email))
    if session.exec(select(UserAccount.id).where(UserAccount.email == email)).first():
        raise Conflict("An account with this email already exists.", code="email_taken")
    user = UserAccount(
        email=email, full_name=data.full_name, password_hash=hash_password(data.password)
    )
    session.add(user)
    try:
        session.commit()
    except IntegrityError as exc:  # a concurrent registration won the race
        session.rollback()
        raise Conflict("An account with this email already exists.", code="email_taken") from exc
    return user


def authenticate(session: Session, email: str, password: str) -> UserAccount:
    """Check credentials. Unknown email and wrong password look and take the same."""
    user = session.exec(
        select(UserAccount).where(UserAccount.email == normalise_email(email))
    ).first()
    if not verify_password(password, user.password_hash if user else None) or user is None:
        raise Unauthorized("Incorrect email or password.", code="invalid_credentials")
    return user


def _issue(
    session: Session, settings: Settings, user_id: uuid.UUID, family_id: uuid.UUID
) -> TokenPair:
    access, _ = create_token(
        settings,
        subject=user_id,
        token_type="access",
        lifetime=timedelta(minutes=settings.access_token_minutes),
    )
    refresh, claims = create_token(
        settings,
        subject=user_id,
        token_type="refresh",
        lifetime=timedelta(days=settings.refresh_token_days),
        family_id=family_id,
    )
    session.add(
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
    pair = _issue(session, settings, user.id, uuid.uuid4())
    session.commit()
    return pair


def _stored_refresh(session: Session, settings: Settings, token: str) -> RefreshToken:
    try:
        claims = decode_token(settings, token, expected_type="refresh")
    except InvalidToken as exc:
        raise Unauthorized(
            "The refresh token is invalid or expired.", code="invalid_token"
        ) from exc
    stored = session.get(RefreshToken, claims.token_id)
    if stored is None or stored.token_hash != sha256_hex(token) or stored.revoked_at is not None:
        raise Unauthorized("The refresh token is invalid or expired.", code="invalid_token")
    return stored


def refresh(session: Session, settings: Settings, token: str) -> TokenPair:
    """Rotate a refresh token. A token used twice revokes its whole family."""
    stored = _stored_refresh(session, settings, token)
    now = utcnow()
    # Compare-and-set, so two concurrent uses of one token cannot both succeed.
    rotated = session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == stored.id)  # type: ignore[arg-type]
        .where(RefreshToken.rotated_at.is_(None))  # type: ignore[union-attr]
        .values(rotated_at=now)
    )
    if rotated.rowcount != 1:  # type: ignore[attr-defined]
        _revoke_family(session, stored.family_id)
        session.commit()
        raise Unauthorized(
            "This refresh token was already used; every session of its family is now revoked.",
            code="refresh_token_reused",
        )
    pair = _issue(session, settings, stored.user_id, stored.family_id)
    session.commit()
    return pair


def logout(session: Session, settings: Settings, token: str) -> None:
    """Revoke the family of the given refresh token."""
    stored = _stored_refresh(session, settings, token)
    _revoke_family(session, stored.family_id)
    session.commit()


def _revoke_family(session: Session, family_id: uuid.UUID) -> None:
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id)  # type: ignore[arg-type]
        .where(RefreshToken.revoked_at.is_(None))  # type: ignore[union-attr]
        .values(revoked_at=utcnow())
    )


_USERS = UserAccount.__table__  # type: ignore[attr-defined]
_LIVE_USER = (
    _USERS.select().with_only_columns(_USERS.c.id).where(_USERS.c.id == bindparam("user_id"))
)


def user_id_from_access_token(
    db: Session | Connection, settings: Settings, token: str
) -> uuid.UUID:
    """The id of the live user an access token speaks for; anything wrong is a 401.

    Only the id is read: most operations need nothing else about the caller, and a
    one-column primary-key lookup is the cheapest proof that the account still exists.
    """
    try:
        claims = decode_access_token(settings, token)
    except InvalidToken as exc:
        raise Unauthorized("The access token is invalid or expired.", code="invalid_token") from exc
    if connection_of(db).execute(_LIVE_USER, {"user_id": claims.subject}).first() is None:
        raise Unauthorized("The access token is invalid or expired.", code="invalid_token")
    return claims.subject


def delete_account(session: Session, user: UserAccount) -> None:
    """Delete an account and everything it owns."""
    session.delete(user)
    session.commit()
