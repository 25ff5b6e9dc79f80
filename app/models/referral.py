"""A Referral: who gave the user a lead to whom."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, new_id, utcnow


class Referral(SQLModel, table=True):
    """``referrer`` gave the lead to talk to ``referred``; a pair is recorded once."""

    __tablename__ = "referral"
    __table_args__ = (
        UniqueConstraint("owner_id", "referrer_id", "referred_id"),
        CheckConstraint("referrer_id <> referred_id", name="referrer_is_not_referred"),
        Index("ix_referral_owner_id_id", "owner_id", "id"),
        Index("ix_referral_referred_id", "referred_id"),
        Index("ix_referral_referrer_id", "referrer_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_id: uuid.UUID = Field(foreign_key="user_account.id", ondelete="CASCADE")
    referrer_id: uuid.UUID = Field(foreign_key="contact.id")
    referred_id: uuid.UUID = Field(foreign_key="contact.id")
    relationship: str = Field(max_length=20)
    notes: str | None = Field(default=None, max_length=20000)
    referred_on: date | None = None
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
