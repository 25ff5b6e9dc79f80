"""An Interview, its preparation checklist, and the record of its workflow moves."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import JSONType, UTCDateTime, new_id, utcnow


class Interview(SQLModel, table=True):
    """One informational interview with one contact. ``state`` moves only through the workflow."""

    __tablename__ = "interview"
    __table_args__ = (
        UniqueConstraint("owner_id", "source", "external_id"),
        Index("ix_interview_owner_id_id", "owner_id", "id"),
        Index("ix_interview_owner_id_state", "owner_id", "state"),
        Index("ix_interview_owner_id_contact_id", "owner_id", "contact_id"),
        Index("ix_interview_owner_id_scheduled_at", "owner_id", "scheduled_at"),
        Index("ix_interview_owner_id_updated_at", "owner_id", "updated_at"),
        Index("ix_interview_referral_id", "referral_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_id: uuid.UUID = Field(foreign_key="user_account.id", ondelete="CASCADE")
    contact_id: uuid.UUID = Field(foreign_key="contact.id")
    referral_id: uuid.UUID | None = Field(default=None, foreign_key="referral.id")
    mode: str = Field(default="in_person", max_length=20)
    scheduled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    duration_minutes: int | None = None
    location: str | None = Field(default=None, max_length=2048)
    career_field: str | None = Field(default=None, max_length=100)
    organization: str | None = Field(default=None, max_length=200)
    state: str = Field(default="request", max_length=20)
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    prepared_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    held_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    thanked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reported_back_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancel_reason: str | None = Field(default=None, max_length=2000)
    notes: str | None = Field(default=None, max_length=20000)
    questions: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSONType, nullable=False)
    )
    advice: str | None = Field(default=None, max_length=20000)
    next_steps: str | None = Field(default=None, max_length=20000)
    decision: str = Field(default="undecided", max_length=20)
    external_id: str | None = Field(default=None, max_length=255)
    source: str | None = Field(default=None, max_length=100)
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PrepChecklist(SQLModel, table=True):
    """Exactly one per interview, created with it. ``complete`` is derived, never stored."""

    __tablename__ = "prep_checklist"

    interview_id: uuid.UUID = Field(
        primary_key=True, foreign_key="interview.id", ondelete="CASCADE"
    )
    owner_id: uuid.UUID = Field(foreign_key="user_account.id", ondelete="CASCADE", index=True)
    research_done: bool = False
    research_done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    research_note: str | None = Field(default=None, max_length=2000)
    website_done: bool = False
    website_done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    website_note: str | None = Field(default=None, max_length=2000)
    self_assessment_done: bool = False
    self_assessment_done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    self_assessment_note: str | None = Field(default=None, max_length=2000)
    opening_statement_done: bool = False
    opening_statement_done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    opening_statement_note: str | None = Field(default=None, max_length=2000)
    opening_statement_text: str | None = Field(default=None, max_length=5000)
    attire_done: bool = False
    attire_done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attire_note: str | None = Field(default=None, max_length=2000)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class InterviewEvent(SQLModel, table=True):
    """One workflow move of an interview: who moved it, when, from which state to which."""

    __tablename__ = "interview_event"
    __table_args__ = (Index("ix_interview_event_interview_id_at", "interview_id", "at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    interview_id: uuid.UUID = Field(foreign_key="interview.id", ondelete="CASCADE")
    owner_id: uuid.UUID = Field(foreign_key="user_account.id", ondelete="CASCADE", index=True)
    from_state: str = Field(max_length=20)
    to_state: str = Field(max_length=20)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str = Field(max_length=100)
    reason: str | None = Field(default=None, max_length=2000)
