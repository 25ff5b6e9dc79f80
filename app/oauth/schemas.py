"""Apps that act for a user through OAuth 2.0: their registrations, what users granted them,
the authorization codes and tokens in between.

Secrets are never stored: a client secret, an authorization code, an access token and a
refresh token are kept as SHA-256 hashes, like personal access tokens.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, WithJsonSchema
from pydantic import Field as PydanticField
from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.accounts.token_schemas import Scope, Scopes, TokenName
from app.kit.db import JSONType, UTCDateTime, new_id, utcnow

# --- Tables -------------------------------------------------------------------------------------


class OAuthClient(SQLModel, table=True):
    """An app registered by a user (its developer). Deleting it ends every grant it holds."""

    __tablename__ = "oauth_client"
    __table_args__ = (Index("ix_oauth_client_owner_id_id", "owner_id", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_id: uuid.UUID = Field(foreign_key="user_account.id", ondelete="CASCADE")
    client_id: str = Field(max_length=64, unique=True)
    secret_hash: str | None = Field(default=None, max_length=64)
    name: str = Field(max_length=100)
    redirect_uris: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    scopes: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OAuthAuthorization(SQLModel, table=True):
    """What one user granted one app: the scopes of their latest consent.

    Deleting it (the user revoking the app) deletes every token issued under it.
    """

    __tablename__ = "oauth_authorization"
    __table_args__ = (
        UniqueConstraint("owner_id", "client_pk"),
        Index("ix_oauth_authorization_owner_id_id", "owner_id", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_id: uuid.UUID = Field(foreign_key="user_account.id", ondelete="CASCADE")
    client_pk: uuid.UUID = Field(foreign_key="oauth_client.id", ondelete="CASCADE", index=True)
    scopes: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    granted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OAuthCode(SQLModel, table=True):
    """An authorization code: one use, ten minutes, bound to its app, redirect URI and PKCE
    challenge. Its id names the family of tokens exchanged for it."""

    __tablename__ = "oauth_code"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    code_hash: str = Field(max_length=64, unique=True)
    authorization_id: uuid.UUID = Field(
        foreign_key="oauth_authorization.id", ondelete="CASCADE", index=True
    )
    redirect_uri: str = Field(max_length=2000)
    scopes: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    code_challenge: str | None = Field(default=None, max_length=128)
    code_challenge_method: str | None = Field(default=None, max_length=10)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OAuthToken(SQLModel, table=True):
    """An access token and the refresh token issued with it.

    Tokens descending from one authorization code share a ``family_id``; a refresh token used
    a second time (``rotated_at`` already set) revokes its whole family.
    """

    __tablename__ = "oauth_token"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    authorization_id: uuid.UUID = Field(
        foreign_key="oauth_authorization.id", ondelete="CASCADE", index=True
    )
    family_id: uuid.UUID = Field(index=True)
    access_hash: str = Field(max_length=64, unique=True)
    refresh_hash: str | None = Field(default=None, max_length=64, unique=True)
    scopes: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    access_expires_at: datetime = Field(sa_type=UTCDateTime)
    refresh_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    rotated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# --- What goes over the wire --------------------------------------------------------------------

MAX_REDIRECT_URIS = 10
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}


def _redirect_uri(value: str) -> str:
    """An absolute https URI (or http on this machine, for native apps), with no fragment."""
    parts = urlsplit(value)
    if parts.fragment or "#" in value:
        raise ValueError("a redirect URI has no fragment")
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
        return value
    raise ValueError("a redirect URI is https, or http on localhost/127.0.0.1/[::1]")


def _distinct_uris(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


RedirectUri = Annotated[
    str,
    StringConstraints(min_length=1, max_length=2000),
    AfterValidator(_redirect_uri),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": 2000,
            "pattern": r"^(https://[^\s\u0000-\u001f/?#:@]+|http://(localhost|127\.0\.0\.1|\[::1\]))"
            r"(:[0-9]{1,5})?([/?][^\s\u0000-\u001f#]*)?$",
            "description": "https, or http on localhost, 127.0.0.1 or [::1]; no fragment.",
        }
    ),
]


class ClientType(StrEnum):
    """``confidential``: a server that keeps a secret; ``public``: a browser or mobile app,
    which cannot, and must use PKCE."""

    CONFIDENTIAL = "confidential"
    PUBLIC = "public"


class ClientCreate(BaseModel):
    """A new app: its name as users will see it on the consent page, where it may send users
    back to (matched exactly), and the scopes it may ask for."""

    model_config = ConfigDict(extra="forbid")

    name: TokenName = PydanticField(description="Shown to users on the consent page.")
    redirect_uris: Annotated[
        list[RedirectUri],
        PydanticField(min_length=1, max_length=MAX_REDIRECT_URIS),
        AfterValidator(_distinct_uris),
    ] = PydanticField(
        description="Where users are sent back with a code. Compared character for character."
    )
    scopes: Scopes = PydanticField(description="The most the app may ask a user for.")
    type: ClientType = PydanticField(
        default=ClientType.CONFIDENTIAL,
        description="`public` apps get no secret and must use PKCE (S256).",
    )


class ClientPublic(BaseModel):
    """A registered app (never its secret)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    client_id: str = PydanticField(description="The app's `client_id` in OAuth requests.")
    name: str
    type: ClientType
    redirect_uris: list[str]
    scopes: list[Scope]
    created_at: datetime


class ClientCreated(ClientPublic):
    """A freshly registered app, with its secret (confidential apps only), shown only once."""

    client_secret: str | None = PydanticField(
        description="The secret a confidential app authenticates with. Shown only once."
    )


class AuthorizationPublic(BaseModel):
    """An app you allowed to act for you, and what it may do."""

    id: uuid.UUID
    client_id: str
    client_name: str
    scopes: list[Scope]
    created_at: datetime = PydanticField(description="When you first allowed the app.")
    granted_at: datetime = PydanticField(description="When you last consented.")
