"""Accounts and the refresh tokens that keep their sessions alive."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, EmailStr, StringConstraints
from pydantic import Field as PydanticField
from sqlalchemy import ColumnElement, Table, exists
from sqlmodel import Field, SQLModel

from app.kit.db import UTCDateTime, new_id, utcnow
from app.kit.queries import CALLER_CONDITION, caller_session
from app.kit.times import DEFAULT_ZONE, MAX_ZONE_LENGTH, TimeZoneName


class UserAccount(SQLModel, table=True):
    """A person using Infoview. ``email`` is stored lower-cased, so uniqueness ignores case."""

    __tablename__ = "user_account"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    full_name: str | None = Field(default=None, max_length=200)
    password_hash: str = Field(max_length=255)
    calendar_token_hash: str | None = Field(default=None, max_length=64, index=True)
    # The IANA zone the user reads times in (letters they draft, exports, agenda, calendar).
    time_zone: str = Field(
        default=DEFAULT_ZONE,
        max_length=MAX_ZONE_LENGTH,
        sa_column_kwargs={"server_default": DEFAULT_ZONE},
    )
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
    time_zone: TimeZoneName = Field(
        default=DEFAULT_ZONE,
        description="The IANA time zone the user reads times in; UTC unless given.",
    )


def _omit_defaults(schema: dict[str, Any]) -> None:
    """In a PATCH body an absent field means "leave it"; ``null`` is not its default."""
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


class UserUpdate(BaseModel):
    """Changes to the caller's profile: only the fields sent change."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_omit_defaults)

    full_name: Annotated[str, StringConstraints(max_length=200)] | None = PydanticField(
        default=None, description="The name letters are signed with; null to clear it."
    )
    # Not nullable: an absent field is left alone, an explicit null is a 422.
    time_zone: TimeZoneName = PydanticField(  # type: ignore[assignment]
        default=None,
        description="The IANA time zone the user reads times in, such as America/New_York.",
    )


class UserPublic(SQLModel):
    """An account as its owner sees it."""

    id: uuid.UUID
    email: str
    full_name: str | None
    time_zone: str = Field(
        description="The IANA time zone the user reads times in: letters they draft show "
        "times in their contact's zone and theirs, exports, the agenda and the calendar in "
        "this one."
    )
    created_at: datetime
