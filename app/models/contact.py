"""A Contact: a person the user may talk to, or who gave the user a lead."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import JSONType, UTCDateTime, new_id, utcnow


class Contact(SQLModel, table=True):
    """A person, owned by one user."""

    __tablename__ = "contact"
    __table_args__ = (
        UniqueConstraint("owner_id", "source", "external_id"),
        Index("ix_contact_owner_id_id", "owner_id", "id"),
        Index("ix_contact_owner_id_email", "owner_id", "email"),
        Index("ix_contact_owner_id_keep_in_touch_days", "owner_id", "keep_in_touch_days"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_id: uuid.UUID = Field(foreign_key="user_account.id", ondelete="CASCADE")
    full_name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=50)
    organization: str | None = Field(default=None, max_length=200)
    title: str | None = Field(default=None, max_length=200)
    career_field: str | None = Field(default=None, max_length=100)
    profile_url: str | None = Field(default=None, max_length=2048)
    notes: str | None = Field(default=None, max_length=20000)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    external_id: str | None = Field(default=None, max_length=255)
    source: str | None = Field(default=None, max_length=100)
    keep_in_touch_days: int | None = Field(default=None)
    last_contacted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    archived: bool = Field(default=False)
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
