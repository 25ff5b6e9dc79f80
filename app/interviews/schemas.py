"""An Interview, its preparation checklist, and the record of its workflow moves."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StrictBool, model_validator
from pydantic import Field as PydField
from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.interviews.workflow import TransitionRefusalCode
from app.kit.db import JSONType, UTCDateTime, new_id, utcnow
from app.kit.problems import MAX_PROBLEM_ERRORS, ProblemError, TransitionProblem
from app.kit.schemas import Timestamp, Whole, never_null, together
from app.vocabulary import Decision, InterviewMode, InterviewState


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
        # The agenda's scans (migration 20261126_agenda_indexes):
        Index("ix_interview_owner_id_state_held_at", "owner_id", "state", "held_at"),
        Index("ix_interview_owner_id_state_thanked_at", "owner_id", "state", "thanked_at"),
        Index(
            "ix_interview_owner_id_state_scheduled_at_contact_id_id",
            "owner_id",
            "state",
            "scheduled_at",
            "contact_id",
            "id",
        ),
        # The figures: the interviews of a period with every column they read, from the index
        # alone (migration 20261208_insights).
        Index(
            "ix_interview_figures",
            "owner_id",
            "requested_at",
            "state",
            "prepared_at",
            "held_at",
            "thanked_at",
            "reported_back_at",
            "contact_id",
            "id",
            "mode",
            "referral_id",
            "career_field",
        ),
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


# --- request and response shapes --------------------------------------------------------------


class InterviewQuestion(BaseModel):
    """A question asked during the interview, with the answer received."""

    model_config = ConfigDict(extra="forbid")

    question: str = PydField(min_length=1, max_length=1000)
    answer: str | None = PydField(default=None, max_length=10000)


def _pair_external_id(external_id: str | None, source: str | None) -> None:
    if (external_id is None) != (source is None):
        raise ValueError("external_id and source go together: give both or neither")


Minutes = Annotated[int, Whole(ge=1, le=1440)]


class InterviewCreate(BaseModel):
    """What a new interview needs: the interviewee, and anything already known about it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=together("external_id", "source"))

    contact_id: uuid.UUID
    referral_id: uuid.UUID | None = None
    mode: InterviewMode = InterviewMode.IN_PERSON
    scheduled_at: Timestamp | None = None
    duration_minutes: Minutes | None = None
    location: str | None = PydField(default=None, max_length=2048)
    career_field: str | None = PydField(default=None, max_length=100)
    organization: str | None = PydField(default=None, max_length=200)
    notes: str | None = PydField(default=None, max_length=20000)
    questions: list[InterviewQuestion] = PydField(default_factory=list, max_length=100)
    advice: str | None = PydField(default=None, max_length=20000)
    next_steps: str | None = PydField(default=None, max_length=20000)
    decision: Decision = Decision.UNDECIDED
    external_id: str | None = PydField(default=None, min_length=1, max_length=255)
    source: str | None = PydField(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _external_id_with_source(self) -> InterviewCreate:
        _pair_external_id(self.external_id, self.source)
        return self


# Fields that may be set but never cleared with an explicit null.
_NOT_NULLABLE = ("mode", "decision", "questions")


class InterviewUpdate(BaseModel):
    """A partial update. ``state``, the interviewee and the state timestamps are read-only."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=never_null(*_NOT_NULLABLE))

    referral_id: uuid.UUID | None = None
    mode: InterviewMode | None = None
    scheduled_at: Timestamp | None = None
    duration_minutes: Minutes | None = None
    location: str | None = PydField(default=None, max_length=2048)
    career_field: str | None = PydField(default=None, max_length=100)
    organization: str | None = PydField(default=None, max_length=200)
    notes: str | None = PydField(default=None, max_length=20000)
    questions: list[InterviewQuestion] | None = PydField(default=None, max_length=100)
    advice: str | None = PydField(default=None, max_length=20000)
    next_steps: str | None = PydField(default=None, max_length=20000)
    decision: Decision | None = None
    external_id: str | None = PydField(default=None, min_length=1, max_length=255)
    source: str | None = PydField(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _no_null_for_required(self) -> InterviewUpdate:
        for name in _NOT_NULLABLE:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class InterviewPublic(BaseModel):
    """An interview as its owner sees it. ``state`` and the ``*_at`` state times are read-only:
    they change only through ``POST /interviews/{id}/transitions``."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    contact_id: uuid.UUID
    referral_id: uuid.UUID | None
    mode: InterviewMode
    scheduled_at: datetime | None
    duration_minutes: int | None
    location: str | None
    career_field: str | None
    organization: str | None
    state: InterviewState
    requested_at: datetime
    prepared_at: datetime | None
    held_at: datetime | None
    thanked_at: datetime | None
    reported_back_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    notes: str | None
    questions: list[InterviewQuestion]
    advice: str | None
    next_steps: str | None
    decision: Decision
    external_id: str | None
    source: str | None
    created_at: datetime
    updated_at: datetime


class InterviewStateChanged(BaseModel):
    """The ``interview.state_changed`` event's data: the move, and the interview after it."""

    interview_id: uuid.UUID
    from_state: InterviewState
    to_state: InterviewState
    at: datetime = PydField(description="When the move was made.")
    interview: InterviewPublic


class ChecklistItemPublic(BaseModel):
    """One preparation item: ticked or not, when, and an optional note."""

    done: bool
    done_at: datetime | None
    note: str | None


class OpeningStatementPublic(ChecklistItemPublic):
    """The opening statement (who I am, why this field); it counts only with a non-empty text."""

    text: str | None


class ChecklistPublic(BaseModel):
    """The preparation checklist of one interview. ``complete`` and ``missing`` are derived:
    the opening statement needs a text, and attire is required only for in-person interviews."""

    interview_id: uuid.UUID
    research: ChecklistItemPublic
    website: ChecklistItemPublic
    self_assessment: ChecklistItemPublic
    opening_statement: OpeningStatementPublic
    attire: ChecklistItemPublic
    complete: bool
    missing: list[str]
    updated_at: datetime


class ChecklistItemUpdate(BaseModel):
    """A partial change to one item: tick or untick it, or change its note."""

    model_config = ConfigDict(extra="forbid")

    # Not nullable, and a JSON boolean only ("true" or 1 is a 422): absent leaves it alone.
    done: StrictBool = PydField(default=None)  # type: ignore[assignment]
    note: str | None = PydField(default=None, max_length=2000)

    @model_validator(mode="after")
    def _done_not_null(self) -> ChecklistItemUpdate:
        if "done" in self.model_fields_set and self.done is None:
            raise ValueError("done cannot be null")
        return self


class OpeningStatementUpdate(ChecklistItemUpdate):
    """A partial change to the opening statement, which also carries its text."""

    text: str | None = PydField(default=None, max_length=5000)


class ChecklistUpdate(BaseModel):
    """Any subset of the checklist items, each a partial change."""

    model_config = ConfigDict(extra="forbid")

    # Not nullable: an item is an object of changes, or absent.
    research: ChecklistItemUpdate = PydField(default=None)  # type: ignore[assignment]
    website: ChecklistItemUpdate = PydField(default=None)  # type: ignore[assignment]
    self_assessment: ChecklistItemUpdate = PydField(default=None)  # type: ignore[assignment]
    opening_statement: OpeningStatementUpdate = PydField(default=None)  # type: ignore[assignment]
    attire: ChecklistItemUpdate = PydField(default=None)  # type: ignore[assignment]

    @model_validator(mode="after")
    def _items_not_null(self) -> ChecklistUpdate:
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} must be an object, not null")
        return self


class TransitionRequest(BaseModel):
    """A workflow move: the target state, plus ``held_at`` for held and ``reason`` for
    cancelled (a reason given with any other move is recorded with it)."""

    model_config = ConfigDict(
        extra="forbid",
        # The document states the rule below: held_at, unless null, goes only with to=held
        # (as dependentSchemas, which SDK generators pass over; see kit.schemas.together).
        json_schema_extra={
            "dependentSchemas": {
                "held_at": {
                    "anyOf": [
                        {"properties": {"to": {"const": InterviewState.HELD.value}}},
                        {"properties": {"held_at": {"type": "null"}}},
                    ]
                }
            }
        },
    )

    to: InterviewState
    held_at: Timestamp | None = PydField(
        default=None, description="When the interview took place (default now); only for held."
    )
    reason: str | None = PydField(default=None, max_length=2000)

    @model_validator(mode="after")
    def _held_at_only_for_held(self) -> TransitionRequest:
        if self.held_at is not None and self.to != InterviewState.HELD:
            raise ValueError("held_at is only accepted with to=held")
        return self


class UnmetRequirement(BaseModel):
    """A requirement that stands in the way of a move, with a stable code."""

    model_config = ConfigDict(extra="allow")

    code: TransitionRefusalCode
    message: str


class TransitionError(ProblemError):
    """An unmet requirement of a refused move, with any fields that make it actionable."""

    code: TransitionRefusalCode
    message: str
    missing: list[str] | None = PydField(
        default=None, description="checklist_incomplete: the checklist items still to do."
    )
    contact_id: uuid.UUID | None = PydField(
        default=None, description="referrer_not_reported: the referrer still to write to."
    )
    scheduled_at: datetime | None = PydField(
        default=None, description="scheduled_in_future: when the interview is scheduled."
    )
    from_state: InterviewState | None = PydField(
        default=None, description="invalid_transition: the state the interview is in."
    )
    to_state: InterviewState | None = PydField(
        default=None, description="invalid_transition: the state asked for."
    )


class InterviewTransitionProblem(TransitionProblem):
    """A refused workflow move (409 ``transition_refused``): every unmet requirement, where
    the interview stands and where it may go. GET /workflow lists every code with its
    sentence."""

    errors: list[TransitionError] | None = PydField(  # type: ignore[assignment]
        default=None,
        max_length=MAX_PROBLEM_ERRORS,
        description="Every unmet requirement, each with its code and what to do.",
    )
    current_state: InterviewState | None = None
    allowed_transitions: list[InterviewState] | None = None  # type: ignore[assignment]


class WorkflowState(BaseModel):
    """A state of the interview workflow."""

    state: InterviewState
    description: str
    final: bool = PydField(description="Whether no move leaves this state.")


class WorkflowCheck(BaseModel):
    """A requirement a move checks: the code a refusal names when it is unmet, and what to do."""

    code: TransitionRefusalCode
    message: str


class WorkflowMove(BaseModel):
    """A move the workflow allows, and every requirement it can be refused for."""

    from_state: InterviewState
    to_state: InterviewState
    checks: list[WorkflowCheck]
    required_fields: list[str] = PydField(
        description="Fields the transition request must carry for this move (reason to cancel)."
    )


class WorkflowChecklistItem(BaseModel):
    """An item of the preparation checklist (checklist_incomplete names the ones not done)."""

    item: str
    needs_text: bool = PydField(description="A tick is not enough: the item needs a text.")
    only_for_mode: InterviewMode | None = PydField(
        description="Required only for interviews in this mode; null: for every interview."
    )


class WorkflowPublic(BaseModel):
    """The interview workflow as data: its states, its moves and what each move checks."""

    initial_state: InterviewState
    states: list[WorkflowState]
    moves: list[WorkflowMove]
    any_move: list[WorkflowCheck] = PydField(
        description="What any refused move can also carry: a move the table does not allow, "
        "or one that raced another change."
    )
    checklist: list[WorkflowChecklistItem]


class TransitionOption(BaseModel):
    """A state the interview may move to next, and what is still missing for it."""

    to: InterviewState
    allowed: bool = PydField(description="Whether the move would be accepted now.")
    unmet: list[UnmetRequirement]
    required_fields: list[str] = PydField(
        description="Fields the transition request must carry for this move (reason to cancel)."
    )


class InterviewEventPublic(BaseModel):
    """One recorded workflow move."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    interview_id: uuid.UUID
    from_state: InterviewState
    to_state: InterviewState
    at: datetime
    actor: str
    reason: str | None
