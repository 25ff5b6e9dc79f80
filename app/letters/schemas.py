"""A Letter: a written message to a contact, optionally tied to an interview."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.kit.db import UTCDateTime, new_id, utcnow
from app.kit.schemas import never_null, together
from app.vocabulary import Channel, LetterDelivery, LetterDeliveryStatus, LetterKind, LetterStatus

#: The most documents one letter encloses.
MAX_ATTACHMENTS = 5
ATTACHMENT_IDS_TYPE = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class Letter(SQLModel, table=True):
    """``draft`` until sent; once sent (``sent_at`` set) it never changes again."""

    __tablename__ = "letter"
    __table_args__ = (
        UniqueConstraint("owner_id", "source", "external_id"),
        Index("ix_letter_owner_id_id", "owner_id", "id"),
        Index("ix_letter_interview_id_kind_status", "interview_id", "kind", "status"),
        Index("ix_letter_recipient_id_sent_at", "recipient_id", "sent_at"),
        Index("ix_letter_owner_id_kind_status", "owner_id", "kind", "status"),
        # The follow-up agenda: the owner's sent letters, oldest first.
        Index("ix_letter_owner_id_status_sent_at", "owner_id", "status", "sent_at"),
        # The figures: when an interview's thank-you or report-back went to whom, from the
        # index alone (migration 20261208_insights).
        Index(
            "ix_letter_interview_id_kind_status_recipient_id_sent_at",
            "interview_id",
            "kind",
            "status",
            "recipient_id",
            "sent_at",
        ),
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
    delivery: str | None = Field(default=None, max_length=10)
    delivery_status: str | None = Field(default=None, max_length=10)
    message_id: str | None = Field(default=None, max_length=255)
    delivery_error: str | None = Field(default=None, max_length=500)
    # The documents enclosed (ids as text, in order); NULL, not [], when there are none, so
    # the drafts that enclose anything are found by ``IS NOT NULL``.
    attachment_ids: list[str] | None = Field(
        default=None, sa_column=Column(ATTACHMENT_IDS_TYPE, nullable=True)
    )
    external_id: str | None = Field(default=None, max_length=255)
    source: str | None = Field(default=None, max_length=100)
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


_NOT_NULL_ON_UPDATE = ("kind", "recipient_id", "channel", "body", "attachment_ids")


def _distinct_ids(ids: list[uuid.UUID]) -> list[uuid.UUID]:
    if len(set(ids)) != len(ids):
        raise ValueError("attachment_ids names a document twice")
    return ids


AttachmentIds = Annotated[
    list[uuid.UUID],
    PydanticField(
        max_length=MAX_ATTACHMENTS,
        description=f"The documents enclosed, in order (at most {MAX_ATTACHMENTS}, each once): "
        "ids from /documents. A resume goes only with a feeler letter, once the interview's "
        "decision is pursue.",
        json_schema_extra={"uniqueItems": True},
    ),
    AfterValidator(_distinct_ids),
]


def _none_is_empty(value: Any) -> Any:
    return [] if value is None else value


EnclosedIds = Annotated[
    list[uuid.UUID],
    BeforeValidator(_none_is_empty),
    PydanticField(description="The documents enclosed, in order."),
]


class LetterCreate(SQLModel):
    """A new letter, always a draft. ``status`` and ``sent_at`` change only by sending it."""

    model_config = {"extra": "forbid", "json_schema_extra": together("external_id", "source")}

    kind: LetterKind
    recipient_id: uuid.UUID
    interview_id: uuid.UUID | None = None
    channel: Channel = Channel.EMAIL
    subject: str | None = Field(default=None, max_length=300)
    body: str = Field(default="", max_length=50000)
    attachment_ids: AttachmentIds = Field(default_factory=list)
    external_id: str | None = Field(default=None, min_length=1, max_length=255)
    source: str | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _external_ref_is_whole(self) -> LetterCreate:
        if (self.external_id is None) != (self.source is None):
            raise ValueError("external_id and source go together: give both or neither")
        return self


class LetterUpdate(SQLModel):
    """Changes to a draft letter; only the fields given change. A sent letter never changes."""

    model_config = {"extra": "forbid", "json_schema_extra": never_null(*_NOT_NULL_ON_UPDATE)}

    kind: LetterKind | None = None
    recipient_id: uuid.UUID | None = None
    interview_id: uuid.UUID | None = None
    channel: Channel | None = None
    subject: str | None = Field(default=None, max_length=300)
    body: str | None = Field(default=None, max_length=50000)
    attachment_ids: AttachmentIds | None = None
    external_id: str | None = Field(default=None, min_length=1, max_length=255)
    source: str | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _required_fields_stay_set(self) -> LetterUpdate:
        # Omitting a field leaves it alone; sending null would erase a field a letter needs.
        for name in _NOT_NULL_ON_UPDATE:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class LetterPublic(SQLModel):
    """A letter as its owner sees it."""

    id: uuid.UUID
    kind: LetterKind
    recipient_id: uuid.UUID
    interview_id: uuid.UUID | None
    channel: Channel
    subject: str | None
    body: str
    status: LetterStatus
    sent_at: datetime | None
    attachment_ids: EnclosedIds = Field(default_factory=list)
    delivery: LetterDelivery | None = PydanticField(
        default=None, description="email: sent by the API; record: sent elsewhere."
    )
    delivery_status: LetterDeliveryStatus | None = PydanticField(
        default=None,
        description="An emailed letter: queued (status stays draft), delivered (the mail server "
        "accepted it; status sent), failed (delivery_error says why; still a draft).",
    )
    message_id: str | None = PydanticField(
        default=None, description="The emailed letter's Message-ID, for matching replies."
    )
    delivery_error: str | None = PydanticField(
        default=None, description="Why the mail server did not take it, in its own words."
    )
    external_id: str | None
    source: str | None
    created_at: datetime
    updated_at: datetime


class LetterCheck(SQLModel):
    """A text to run the job-ask check on, as a letter of ``kind`` would say it."""

    model_config = {"extra": "forbid"}

    kind: LetterKind
    subject: str | None = Field(default=None, max_length=300)
    body: str = Field(default="", max_length=50000)


class JobAskFinding(SQLModel):
    """One sentence that asks for a job: the words that do, why, and what to ask instead."""

    field: Literal["subject", "body"]
    sentence: str = Field(description="The sentence, as written.")
    phrase: str = Field(description="The words that ask, as written.")
    start: int = Field(description="Where the phrase starts in the field (code points).")
    end: int = Field(description="Where the phrase ends in the field (code points, exclusive).")
    why: str = Field(description="Why the phrase reads as a job request.")
    suggestion: str = Field(description="An informational question to ask instead.")


class LetterCheckResult(SQLModel):
    """What the job-ask check found; ``allowed`` is false when a letter of this kind would be
    refused for it (only a feeler may ask about openings)."""

    kind: LetterKind
    asks_for_job: bool
    allowed: bool
    findings: list[JobAskFinding] = Field(
        description="One per sentence that asks, subject first, at most 20."
    )
