"""Accounts and the refresh tokens that keep their sessions alive."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import EmailStr
from sqlalchemy import ColumnElement, Table, exists
from sqlmodel import Field, SQLModel

from app.kit.db import UTCDateTime, new_id, utcnow
from app.kit.queries import CALLER_CONDITION, caller_session


class UserAccount(SQLModel, table=True):
    """A person using Infoview. ``email`` is stored lower-cased, so uniqueness ignores case."""

    __tablename__ = "user_account"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    full_name: str | None = Field(default=None, max_length=200)
    password_hash: str = Field(max_length=255)
    calendar_token_hash: str | None = Field(default=None, max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RefreshToken(SQLModel, table=True):
    """One issued refresh token. Only a hash of the token is kept.

    Tokens of one login form a *family*; using a token rotates it (``rotated_at`` set, a new
    one issued in the same family). Presenting a rotated token again means it leaked, and the
    whole family is revoked.
    """

    __tablename__ = "refresh_token"

    id: uuid.UUID = Field(primary_key=True)  # the token's jti
    user_id: uuid.UUID = Field(foreign_key="user_account.id", ondelete="CASCADE", index=True)
    family_id: uuid.UUID = Field(index=True)
    token_hash: str = Field(max_length=64)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    rotated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def session_not_revoked(_owner: Table) -> ColumnElement[bool]:
    """The caller's session has not been ended: no token of its refresh-token family is
    revoked (logout, or a rotated token used again). True for a caller without a session.

    What every caller-checked statement adds to the account's row (``kit/queries.py``), so an
    access token stops working the moment its session ends, with no round trip of its own.
    """
    tokens: Any = RefreshToken.__table__  # type: ignore[attr-defined]
    return ~exists().where(tokens.c.family_id == caller_session(), tokens.c.revoked_at.is_not(None))


UserAccount.__table__.info[CALLER_CONDITION] = session_not_revoked  # type: ignore[attr-defined]


class UserCreate(SQLModel):
    """What a new account needs."""

    model_config = {"extra": "forbid"}

    email: EmailStr = Field(max_length=320)
    password: str = Field(min_length=8, max_length=128)
    full_name: str | None = Field(default=None, max_length=200)


class UserPublic(SQLModel):
    """An account as its owner sees it."""

    id: uuid.UUID
    email: str
    full_name: str | None
    created_at: datetime
