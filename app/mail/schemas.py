"""Mail: a user's own mailbox, the messages waiting to be sent, and what the API says of them.

A letter sent with ``delivery=email`` is queued as a :class:`MailMessage` in the same
transaction that marks it queued (a transactional outbox): a crash after that commit loses
nothing, and the sender picks the message up when it runs again. The message's ``Message-ID``
is chosen when it is queued, so every attempt sends the same one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic import Field as PydanticField
from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.kit.db import UTCDateTime, new_id, utcnow


class Security(StrEnum):
    """How the connection to the mail server is protected."""

    STARTTLS = "starttls"  # plain connection upgraded with STARTTLS (port 587)
    TLS = "tls"  # TLS from the first byte (port 465)
    NONE = "none"  # no encryption: only for a server on the same private network


class MailStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"


class MailAccount(SQLModel, table=True):
    """A user's own mailbox for sending their letters; the password sealed at rest."""

    __tablename__ = "mail_account"

    owner_id: uuid.UUID = Field(foreign_key="user_account.id", primary_key=True, ondelete="CASCADE")
    id: uuid.UUID = Field(default_factory=new_id, unique=True)  # the password's sealing id
    host: str = Field(max_length=253)
    port: int
    security: str = Field(max_length=10)
    username: str = Field(max_length=320)
    password_sealed: str = Field(max_length=1024)
    from_address: str = Field(max_length=320)
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MailMessage(SQLModel, table=True):
    """One letter waiting to be sent, being sent, delivered, or given up on."""

    __tablename__ = "mail_message"
    __table_args__ = (Index("ix_mail_message_status_next_attempt_at", "status", "next_attempt_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_id: uuid.UUID = Field(foreign_key="user_account.id", ondelete="CASCADE", index=True)
    letter_id: uuid.UUID = Field(foreign_key="letter.id", ondelete="CASCADE", unique=True)
    message_id: str = Field(max_length=255)
    status: str = Field(default=MailStatus.QUEUED.value, max_length=10)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class InboundAddress(SQLModel, table=True):
    """Where a user's replies come back: the SHA-256 of the secret in their inbound URL."""

    __tablename__ = "inbound_address"

    owner_id: uuid.UUID = Field(foreign_key="user_account.id", primary_key=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class InboundMessage(SQLModel, table=True):
    """A reply already recorded, by its own Message-ID: the same mail posted twice counts once."""

    __tablename__ = "inbound_message"
    __table_args__ = (UniqueConstraint("owner_id", "message_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_id: uuid.UUID = Field(foreign_key="user_account.id", ondelete="CASCADE")
    message_id: str = Field(max_length=255)
    interaction_id: uuid.UUID | None = Field(default=None)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class InboundToken(BaseModel):
    """The secret address replies are posted to; shown once."""

    token: str
    url: str = PydanticField(description="POST raw MIME here (your mail provider's inbound route).")


class InboundResult(BaseModel):
    """What became of a posted email."""

    matched: bool = PydanticField(description="Whether it was taken as a reply to your letter.")
    duplicate: bool = PydanticField(description="True when this email was recorded before.")
    letter_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    interaction_id: uuid.UUID | None = None


Host = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.-]+$"
    ),
]


class MailAccountIn(BaseModel):
    """The user's own mailbox: where to connect and how to log in."""

    model_config = ConfigDict(extra="forbid")

    host: Host = PydanticField(description="The SMTP server, e.g. smtp.example.com.")
    port: int = PydanticField(ge=1, le=65535, description="587 (starttls), 465 (tls), 25.")
    security: Security = Security.STARTTLS
    username: str = PydanticField(min_length=1, max_length=320)
    password: str = PydanticField(min_length=1, max_length=500, description="Stored encrypted.")
    from_address: str | None = PydanticField(
        default=None,
        max_length=320,
        description="The address letters come from; the username when it is an address.",
    )


class MailAccountPublic(BaseModel):
    """The user's own mailbox as the API shows it: never the password."""

    host: str
    port: int
    security: Security
    username: str
    from_address: str
    updated_at: datetime


class MailSetup(BaseModel):
    """How the user's letters would leave if emailed now."""

    mailbox: MailAccountPublic | None = PydanticField(
        description="Your own mailbox, if you set one up (it is used first)."
    )
    relay: bool = PydanticField(description="Whether the server has a mail relay of its own.")
    default_delivery: Literal["email", "record"] = PydanticField(
        description="What POST /letters/{id}/send does without a delivery: email where a "
        "mailbox or the relay is there, else record."
    )


class MailTestRequest(BaseModel):
    """The mailbox to try: the one given, or (``{}``) the one you set up."""

    model_config = ConfigDict(extra="forbid")

    account: MailAccountIn | None = None


class MailTestResult(BaseModel):
    """What the mail server said when the API logged in (and, if asked, sent a test)."""

    ok: bool
    detail: str = PydanticField(description="The server's answer, or why it could not be used.")
