"""The agenda's shapes: one due action, and the list of them.

Agenda items are computed, never stored: there is no table here.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel
from pydantic import Field as PydanticField


class AgendaKind(StrEnum):
    """What is due: follow up, prepare, thank, report back, or keep in touch."""

    FOLLOW_UP = "follow_up"
    PREPARE = "prepare"
    THANK = "thank"
    REPORT_BACK = "report_back"
    KEEP_IN_TOUCH = "keep_in_touch"


class FollowUpAction(StrEnum):
    """How to follow up: by phone when the contact has a number, else in writing."""

    CALL = "call"
    LETTER = "letter"


class AgendaItem(BaseModel):
    """One due action: what to do, for which interview and with whom, and by when."""

    kind: AgendaKind
    due_at: datetime = PydanticField(description="When the action falls due (UTC).")
    overdue: bool = PydanticField(description="Whether due_at has already passed.")
    interview_id: uuid.UUID | None = PydanticField(
        description="The interview the action is about; null for keep_in_touch."
    )
    contact_id: uuid.UUID = PydanticField(
        description="The person to act towards: the interviewee (follow_up, prepare, thank), "
        "the referrer to write to (report_back: one item per referrer), or the contact "
        "(keep_in_touch)."
    )
    title: str = PydanticField(
        description='What to do, for people: "Send a thank-you to …"; any time in it is in '
        "the user's time zone."
    )
    due_label: str = PydanticField(
        description="When the action falls due, as the user reads it in their time zone: "
        '"Tuesday 9 December 2026, 9:30 a.m. EST".'
    )
    action: FollowUpAction | None = PydanticField(
        default=None,
        description="follow_up only: `call` when the contact has a phone number (see phone), "
        "else `letter`; null for the other kinds.",
    )
    phone: str | None = PydanticField(
        default=None, description="follow_up with action call: the number to call."
    )


class AgendaList(BaseModel):
    """The due actions, oldest due first."""

    data: list[AgendaItem]
    has_more: bool = PydanticField(
        description="More actions fall due before due_before than limit let through."
    )
    due_before: datetime = PydanticField(description="The horizon the list was computed for.")
    time_zone: str = PydanticField(
        description="The user's IANA time zone, which titles and due labels are written in."
    )
