"""A Letter: a written message to a contact, optionally tied to an interview."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, new_id, utcnow


class Letter(SQLModel, table=True):
    """``draft`` until sent; once sent (``sent_at`` set) it never changes again."""

    __tablename__ = "letter"
    __table_args__ = (
        UniqueConstraint("owner_id", "source", "external_id"),
        Index("ix_letter_owner_id_id", "owner_id", "id"),
        Index("ix_letter_interview_id_kind_status", "interview_id", "kind", "status"),
        Index("ix_letter_recipient_id_sent_at", "recipient_id", "sent_at"),
        Index("ix_letter_owner_id_kind_status", "owner_id", "kind", "status"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_id: uuid.UUID = Field(foreign_key="user_account.id", ondelete="CASCADE")
    kind: str = Field(max_length=20)
    recipient_id: uuid.UUID = Field(foreign_key="contact.id")
    interview_id: uuid.UUID | None = Field(default=None, foreign_key="interview.id")
    channel: str = Field(default="email", max_length=20)
    subject: str | None = Field(default=None, max_length=300)
    body: str = Field(default="", max_length=50000)
    status: str = Field(default="draft", max_length=10)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    external_id: str | None = Field(default=None, max_length=255)
    source: str | None = Field(default=None, max_length=100)
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
