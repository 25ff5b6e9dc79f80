"""An Interaction: a call, voicemail, meeting, message or reply, logged against a contact and,
optionally, an interview and the letter a reply answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic import Field as PydanticField
from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.kit.db import UTCDateTime, new_id, utcnow
from app.kit.schemas import Timestamp
from app.vocabulary import Direction, InteractionKind, InterviewState, Outcome


class Interaction(SQLModel, table=True):
    """Something that happened between the user and a contact outside a letter."""

    __tablename__ = "interaction"
    __table_args__ = (
        Index("ix_interaction_owner_id_id", "owner_id", "id"),
        # The agenda walks the owner's interactions by time; a contact's last contact and an
        # interview's answers are looked up by time too.
        Index("ix_interaction_owner_id_occurred_at", "owner_id", "occurred_at"),
        Index("ix_interaction_contact_id_occurred_at", "contact_id", "occurred_at"),
        Index("ix_interaction_interview_id_occurred_at", "interview_id", "occurred_at"),
        Index("ix_interaction_letter_id", "letter_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_id: uuid.UUID = Field(foreign_key="user_account.id", ondelete="CASCADE")
    contact_id: uuid.UUID = Field(foreign_key="contact.id")
    # Deleting the interview or the letter keeps the interaction, with the contact.
    interview_id: uuid.UUID | None = Field(
        default=None, foreign_key="interview.id", ondelete="SET NULL"
    )
    letter_id: uuid.UUID | None = Field(default=None, foreign_key="letter.id", ondelete="SET NULL")
    kind: str = Field(max_length=20)
    direction: str = Field(max_length=10)
    outcome: str | None = Field(default=None, max_length=20)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    notes: str | None = Field(default=None, max_length=20000)
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- What goes over the wire ------------------------------------------------------------------

Notes = Annotated[str, StringConstraints(max_length=20000)]

_KIND = "call, voicemail, meeting, message or reply."
_OUTCOME = (
    "How it went. `left_voicemail` fits a call or a voicemail; `no_answer` a call or a "
    "message; `reached` a call or a meeting; a reply is `agreed` or `declined`."
)
_LETTER = (
    "The letter of yours this answers: only on an inbound reply, a letter sent to the contact."
)
_OCCURRED = "When it happened (UTC); not in the future. Default: now."


def _omit_defaults(schema: dict[str, Any]) -> None:
    """In a PATCH body an absent field means "leave it"; ``null`` is not its default."""
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


class InteractionCreate(BaseModel):
    """A call, voicemail, meeting, message or reply to log."""

    model_config = ConfigDict(extra="forbid")

    contact_id: uuid.UUID = PydanticField(description="The contact it was with.")
    interview_id: uuid.UUID | None = PydanticField(
        default=None,
        description="The interview it is about: one with this contact, or whose interviewee "
        "this contact referred you to.",
    )
    letter_id: uuid.UUID | None = PydanticField(default=None, description=_LETTER)
    kind: InteractionKind = PydanticField(description=_KIND)
    direction: Direction = PydanticField(description="outbound (you) or inbound (they).")
    outcome: Outcome | None = PydanticField(default=None, description=_OUTCOME)
    occurred_at: Timestamp | None = PydanticField(default=None, description=_OCCURRED)
    notes: Notes | None = None


class InteractionUpdate(BaseModel):
    """Changes to an interaction: only the fields sent change. Its contact is fixed."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_omit_defaults)

    # Not nullable: the None default only marks "absent" (the service reads exclude_unset).
    kind: InteractionKind = PydanticField(default=None, description=_KIND)  # type: ignore[assignment]
    direction: Direction = PydanticField(default=None)  # type: ignore[assignment]
    occurred_at: Timestamp = PydanticField(default=None)  # type: ignore[assignment]
    interview_id: uuid.UUID | None = None
    letter_id: uuid.UUID | None = PydanticField(default=None, description=_LETTER)
    outcome: Outcome | None = PydanticField(default=None, description=_OUTCOME)
    notes: Notes | None = None


class InteractionPublic(BaseModel):
    """An interaction as its owner sees it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    contact_id: uuid.UUID
    interview_id: uuid.UUID | None
    letter_id: uuid.UUID | None
    kind: InteractionKind
    direction: Direction
    outcome: Outcome | None
    occurred_at: datetime
    notes: str | None
    created_at: datetime
    updated_at: datetime


class SuggestedTransition(BaseModel):
    """A workflow move the interaction suggests; it is never made for you."""

    to: InterviewState
    reason: str = PydanticField(max_length=500)


class InteractionLogged(InteractionPublic):
    """An interaction just written, with what it suggests for its interview."""

    suggested_transition: SuggestedTransition | None = PydanticField(
        default=None,
        description="A move to consider, e.g. `cancelled` when the contact declined before the "
        "interview was held; POST it to the interview's transitions to make it.",
    )
