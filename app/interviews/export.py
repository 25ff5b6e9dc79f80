"""One interview as a take-away: what was asked and answered, the advice, the next steps,
the people and the dates, as JSON or as a Markdown write-up.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlmodel import Session

from app.interviews.repository import InterviewRepository
from app.interviews.schemas import InterviewQuestion
from app.kit.db import utcnow
from app.kit.downloads import slug
from app.kit.markdown import escape
from app.kit.times import DEFAULT_ZONE, format_moment, local_date
from app.vocabulary import Decision, InterviewMode, InterviewState, Relationship


class InterviewExportFormat(StrEnum):
    MARKDOWN = "markdown"
    JSON = "json"


class PersonExport(BaseModel):
    """A person named in the write-up: the interviewee, or whoever gave the lead."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    full_name: str
    email: str | None
    phone: str | None
    organization: str | None
    title: str | None
    career_field: str | None
    profile_url: str | None
    time_zone: str | None = PydanticField(description="Their IANA time zone, if known.")


class ReferralExport(BaseModel):
    """Who gave the lead to the interviewee, and how they know the user."""

    id: uuid.UUID
    referrer: PersonExport
    relationship: Relationship
    referred_on: date | None


class InterviewDates(BaseModel):
    """When the interview was asked for, scheduled, and entered each state."""

    requested_at: datetime
    scheduled_at: datetime | None
    prepared_at: datetime | None
    held_at: datetime | None
    thanked_at: datetime | None
    reported_back_at: datetime | None
    cancelled_at: datetime | None


class InterviewExport(BaseModel):
    """One interview's take-away: the conversation and its context, ready to keep."""

    # No defaults: both are always sent, so the document lists them as required (and
    # openapi-python-client writes invalid Python for an optional integer constant).
    format: Literal["infoview-interview"]
    version: Literal[1]
    exported_at: datetime
    time_zone: str = PydanticField(
        description="The user's IANA time zone: the Markdown write-up shows its times in it; "
        "the timestamps here stay in UTC."
    )
    interview_id: uuid.UUID
    state: InterviewState
    mode: InterviewMode
    duration_minutes: int | None
    location: str | None
    career_field: str | None
    organization: str | None
    contact: PersonExport = PydanticField(description="The interviewee.")
    referral: ReferralExport | None = PydanticField(description="The lead it came from, if any.")
    dates: InterviewDates
    questions: list[InterviewQuestion] = PydanticField(description="In the order they were asked.")
    advice: str | None
    next_steps: str | None
    decision: Decision
    cancel_reason: str | None
    notes: str | None


def build(session: Session, owner_id: uuid.UUID, interview_id: uuid.UUID) -> InterviewExport:
    """The caller's interview as a take-away, or a 404."""
    interviews = InterviewRepository(session)
    interview = interviews.get(owner_id, interview_id)
    contact = interviews.contact(interview.contact_id)
    assert contact is not None  # a foreign key
    referral = None
    if interview.referral_id is not None:
        row = interviews.referral(interview.referral_id)
        referrer = interviews.contact(row.referrer_id) if row is not None else None
        if row is not None and referrer is not None:
            referral = ReferralExport(
                id=row.id,
                referrer=PersonExport.model_validate(referrer),
                relationship=Relationship(row.relationship),
                referred_on=row.referred_on,
            )
    return InterviewExport(
        format="infoview-interview",
        version=1,
        exported_at=utcnow(),
        time_zone=interviews.owner_time_zone(owner_id) or DEFAULT_ZONE,
        interview_id=interview.id,
        state=InterviewState(interview.state),
        mode=InterviewMode(interview.mode),
        duration_minutes=interview.duration_minutes,
        location=interview.location,
        career_field=interview.career_field,
        organization=interview.organization,
        contact=PersonExport.model_validate(contact),
        referral=referral,
        dates=InterviewDates.model_validate(interview, from_attributes=True),
        questions=[InterviewQuestion.model_validate(q) for q in interview.questions],
        advice=interview.advice,
        next_steps=interview.next_steps,
        decision=Decision(interview.decision),
        cancel_reason=interview.cancel_reason,
        notes=interview.notes,
    )


def filename(export: InterviewExport, extension: str) -> str:
    """``interview-2026-11-20-jane-doe.md``: the day it was held (or scheduled, or asked for),
    in the user's zone."""
    dates = export.dates
    day = local_date(dates.held_at or dates.scheduled_at or dates.requested_at, export.time_zone)
    return f"interview-{day.isoformat()}-{slug(export.contact.full_name)}.{extension}"


# --- Markdown ---------------------------------------------------------------------------------

_MODES = {
    InterviewMode.IN_PERSON: "In person",
    InterviewMode.PHONE: "Phone",
    InterviewMode.VIDEO: "Video",
    InterviewMode.EMAIL: "Email",
}
_DECISIONS = {
    Decision.UNDECIDED: "Undecided about this career.",
    Decision.PURSUE: "Decided to pursue this career.",
    Decision.NOT_PURSUE: "Decided not to pursue this career.",
}


def _one_line(text: str) -> str:
    """What the user typed, for a heading or a list item (which must not span lines)."""
    return escape(text, one_line=True)


def _block(text: str | None, empty: str) -> str:
    """What the user typed as paragraphs, their line breaks kept; ``empty`` when blank."""
    return escape(text) if text and text.strip() else empty


def _words(value: StrEnum) -> str:
    """An enumeration's value in words: ``reported-back`` is "reported back"."""
    return value.value.replace("_", " ").replace("-", " ")


def _text(text: str | None) -> str | None:
    """An optional one-line value the user typed, escaped; ``None`` when there is none."""
    return _one_line(text) if text and text.strip() else None


def _person(person: PersonExport) -> str:
    role = ", ".join(_one_line(p) for p in (person.title, person.organization) if p)
    return _one_line(person.full_name) + (f" ({role})" if role else "")


def to_markdown(export: InterviewExport) -> str:
    """The write-up as Markdown: people and dates first (in the user's time zone), then the
    conversation and what follows."""
    lines = [f"# Informational interview with {_one_line(export.contact.full_name)}", ""]
    facts: list[tuple[str, str | None]] = [
        ("Interviewee", _person(export.contact)),
        ("Email", _text(export.contact.email)),
        ("Phone", _text(export.contact.phone)),
        ("Profile", _text(export.contact.profile_url)),
        (
            "Referred by",
            f"{_person(export.referral.referrer)}, {_words(export.referral.relationship)}"
            if export.referral
            else None,
        ),
        ("Career field", _text(export.career_field or export.contact.career_field)),
        ("Organization", _text(export.organization or export.contact.organization)),
        ("Mode", _MODES[export.mode]),
        ("Location", _text(export.location)),
        (
            "Duration",
            f"{export.duration_minutes} minutes" if export.duration_minutes is not None else None,
        ),
        ("State", _words(export.state)),
    ]
    # Each value is Markdown already: the user's words escaped, ours as they are.
    lines += [f"- **{label}:** {value}" for label, value in facts if value]
    dates = export.dates
    lines += ["", "## Dates", ""]
    for label, value in (
        ("Requested", dates.requested_at),
        ("Scheduled", dates.scheduled_at),
        ("Prepared", dates.prepared_at),
        ("Held", dates.held_at),
        ("Thanked", dates.thanked_at),
        ("Reported back", dates.reported_back_at),
        ("Cancelled", dates.cancelled_at),
    ):
        if value is not None:
            lines.append(f"- **{label}:** {format_moment(value, export.time_zone)}")
    if export.cancel_reason:
        lines.append(f"- **Reason for cancelling:** {_one_line(export.cancel_reason)}")
    lines += ["", "## Questions and answers", ""]
    if not export.questions:
        lines += ["_No questions recorded._", ""]
    for number, item in enumerate(export.questions, start=1):
        lines += [f"### {number}. {_one_line(item.question)}", ""]
        lines.append(_block(item.answer, "_No answer._"))
        lines.append("")
    for title, text in (
        ("Advice", export.advice),
        ("Next steps", export.next_steps),
        ("Notes", export.notes),
    ):
        lines += [f"## {title}", "", _block(text, "_None._"), ""]
    lines += ["## Decision", "", _DECISIONS[export.decision], ""]
    return "\n".join(lines)
