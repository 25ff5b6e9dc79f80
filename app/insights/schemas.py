"""The shapes of the figures and of a field brief, as they go over the wire.

Insights own no table: they read the interviews, their recorded moves, the letters and the
referrals the other domains keep.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel
from pydantic import Field as PydanticField

from app.vocabulary import Decision, InterviewMode, InterviewState


class StatsGrouping(StrEnum):
    """What the figures are broken down by."""

    REFERRER_RELATIONSHIP = "referrer_relationship"
    CAREER_FIELD = "career_field"
    MODE = "mode"
    REFERRER = "referrer"
    NONE = "none"


class StatsPeriod(BaseModel):
    """The interviews counted: those asked for (``requested_at``) at or after ``start`` and
    before ``end``; a missing end is open."""

    start: datetime | None
    end: datetime | None


class StateCount(BaseModel):
    """How many of the group's interviews are in ``state`` now."""

    state: InterviewState
    interviews: int


class StepFigures(BaseModel):
    """One forward step of the workflow: how many interviews reached ``from_state``, how
    many of those went on to ``to_state``, and how long that took."""

    from_state: InterviewState
    to_state: InterviewState
    reached: int = PydanticField(description="Interviews that reached from_state.")
    advanced: int = PydanticField(description="Of those, the ones that later reached to_state.")
    conversion: float | None = PydanticField(
        description="advanced / reached, between 0 and 1; null when nothing reached from_state."
    )
    median_days: float | None = PydanticField(
        description="The median number of days from entering from_state to entering to_state, "
        "over the interviews that advanced; null when none did."
    )


class Courtesy(BaseModel):
    """Whether the people who helped were thanked and reported to in good time."""

    held: int = PydanticField(description="Interviews held.")
    thanked_within_24h: int = PydanticField(
        description="Held interviews whose interviewee was sent a thank-you letter within 24 "
        "hours after the interview was held."
    )
    thanked_within_24h_share: float | None = PydanticField(
        description="thanked_within_24h / held; null when none was held."
    )
    to_report_back: int = PydanticField(
        description="Held interviews whose interviewee has at least one referrer to report to."
    )
    reported_back_within_7d: int = PydanticField(
        description="Of those, the ones where every referrer was sent a report-back letter "
        "within 7 days after the interview was held."
    )
    reported_back_within_7d_share: float | None = PydanticField(
        description="reported_back_within_7d / to_report_back; null when there was nobody to "
        "report to."
    )


class TopReferrer(BaseModel):
    """A referrer whose leads became interviews that were held."""

    contact_id: uuid.UUID
    full_name: str
    held_interviews: int = PydanticField(
        description="The group's held interviews that came from this referrer's leads."
    )


class StatsGroup(BaseModel):
    """The figures of one group of interviews."""

    key: str | None = PydanticField(
        description="What the group shares: a relationship, a career field (lower case), a "
        "mode or a referrer's contact id; null for the interviews without one (and for the "
        "single group of group_by=none)."
    )
    label: str = PydanticField(description="The group's name, to show.")
    interviews: int
    states: list[StateCount] = PydanticField(description="Every state, in workflow order.")
    steps: list[StepFigures] = PydanticField(description="The forward steps, in workflow order.")
    courtesy: Courtesy
    referrals_given: int = PydanticField(
        description="Referrals whose referrer is the interviewee of one of the group's held "
        "interviews: the leads the conversations produced."
    )
    referrals_per_held_interview: float | None = PydanticField(
        description="referrals_given / courtesy.held; null when none was held."
    )
    top_referrers: list[TopReferrer] = PydanticField(
        description="The referrers whose leads led to the most held interviews, most first."
    )


class Stats(BaseModel):
    """Funnel and courtesy figures over the caller's interviews, by group."""

    group_by: StatsGrouping
    period: StatsPeriod
    groups: list[StatsGroup] = PydanticField(
        description="The groups with the most interviews first (then by label)."
    )
    groups_left_out: int = PydanticField(description="Smaller groups beyond the limit, not shown.")


# --- the field brief ---------------------------------------------------------------------------


class BriefInterview(BaseModel):
    """One interview the brief draws on."""

    interview_id: uuid.UUID
    contact_id: uuid.UUID
    contact_name: str
    title: str | None
    organization: str | None
    mode: InterviewMode
    state: InterviewState
    requested_at: datetime
    held_at: datetime | None
    decision: Decision


class BriefNote(BaseModel):
    """A piece of text from one interview: advice, or next steps."""

    interview_id: uuid.UUID
    contact_name: str
    text: str


class BriefAnswer(BaseModel):
    """What one interviewee answered to a question (null: asked, not answered)."""

    interview_id: uuid.UUID
    contact_name: str
    answer: str | None


class BriefQuestion(BaseModel):
    """A question and every answer it got, across the field's interviews."""

    question: str = PydanticField(
        description="As first asked (questions are grouped ignoring case and spacing)."
    )
    answers: list[BriefAnswer]


class DecisionCount(BaseModel):
    """How many of the brief's interviews ended in ``decision``."""

    decision: Decision
    interviews: int


class FieldBrief(BaseModel):
    """Everything the caller learned about a career field, across its newest interviews."""

    format: Literal["infoview-field-brief"]
    version: Literal[1]
    generated_at: datetime
    time_zone: str = PydanticField(
        description="The user's IANA time zone: the Markdown brief shows its dates in it; the "
        "timestamps here stay in UTC."
    )
    career_field: str = PydanticField(description="The field, as the newest interview names it.")
    interviews_total: int = PydanticField(description="Every interview in the field.")
    interviews_left_out: int = PydanticField(
        description="Older interviews beyond the brief's bound, not included."
    )
    interviews: list[BriefInterview] = PydanticField(description="Newest first.")
    decisions: list[DecisionCount]
    advice: list[BriefNote]
    questions: list[BriefQuestion] = PydanticField(
        description="In the order first asked, newest interview first."
    )
    next_steps: list[BriefNote]
