"""Personal access tokens: long-lived, scoped credentials for integrations.

Only a SHA-256 of the secret is stored; the secret itself is shown once, when the token is
created. ``prefix`` keeps the first characters so a person can tell their tokens apart.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints
from pydantic import Field as PydanticField
from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from app.kit.db import JSONType, UTCDateTime, new_id, utcnow
from app.kit.schemas import Timestamp


class Scope(StrEnum):
    """What a personal access token may do. Each resource has a read and a write scope."""

    CONTACTS_READ = "contacts:read"
    CONTACTS_WRITE = "contacts:write"
    REFERRALS_READ = "referrals:read"
    REFERRALS_WRITE = "referrals:write"
    INTERVIEWS_READ = "interviews:read"
    INTERVIEWS_WRITE = "interviews:write"
    LETTERS_READ = "letters:read"
    LETTERS_WRITE = "letters:write"
    DOCUMENTS_READ = "documents:read"
    DOCUMENTS_WRITE = "documents:write"
    INTERACTIONS_READ = "interactions:read"
    INTERACTIONS_WRITE = "interactions:write"
    WEBHOOKS_MANAGE = "webhooks:manage"
    EXPORT = "export"
    INSIGHTS_READ = "insights:read"


class PersonalAccessToken(SQLModel, table=True):
    """One personal access token. Revoked tokens are kept (``revoked_at`` set) for the record."""

    __tablename__ = "personal_access_token"
    __table_args__ = (Index("ix_personal_access_token_owner_id_id", "owner_id", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_id: uuid.UUID = Field(foreign_key="user_account.id", ondelete="CASCADE")
    name: str = Field(max_length=100)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- What goes over the wire ------------------------------------------------------------------


def _distinct(scopes: list[Scope]) -> list[Scope]:
    return list(dict.fromkeys(scopes))


TokenName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Scopes = Annotated[
    list[Scope],
    PydanticField(min_length=1, max_length=len(Scope)),
    AfterValidator(_distinct),
]


class TokenCreate(BaseModel):
    """A new personal access token: a name to recognise it by, its scopes, an optional expiry."""

    model_config = ConfigDict(extra="forbid")

    name: TokenName = PydanticField(description="What the token is for, e.g. the integration.")
    scopes: Scopes = PydanticField(description="What the token may do.")
    expires_at: Timestamp | None = PydanticField(
        default=None, description="When the token stops working; never if null. In the future."
    )


class TokenPublic(BaseModel):
    """A personal access token as listed: everything but the secret."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    scopes: list[Scope]
    prefix: str = PydanticField(description="The first characters of the secret, for display.")
    expires_at: datetime | None
    last_used_at: datetime | None = PydanticField(
        description="When the token was last used (updated at most once a minute)."
    )
    created_at: datetime


class TokenCreated(TokenPublic):
    """A freshly created token, with its secret. The secret is never shown again."""

    token: str = PydanticField(
        description="The secret, to send as `Authorization: Bearer <token>`. Shown only once."
    )
