"""The user's iCalendar feed: scheduled interviews, and the agenda's due actions.

What goes in, and how:

- Each scheduled interview that is not cancelled is a timed ``VEVENT``: ``DTSTART`` at its
  time, ``DTEND`` after its duration (30 minutes when none is set), ``SUMMARY``
  "Informational interview with Jane Doe (Acme)", ``LOCATION`` the place or meeting URL
  (also as ``URL`` when it is one), ``DESCRIPTION`` with the mode, the contact, the career
  field and the notes. ``UID`` is ``<interview id>@infoview``, stable across fetches, and
  ``SEQUENCE`` its version, so calendar apps update the event in place when it moves.
  ``STATUS`` is ``TENTATIVE`` while the interview is still a request, ``CONFIRMED`` after.
- Each agenda item due within the next 30 days (overdue ones included) is an all-day
  ``VEVENT`` on its due date where the user lives (their time zone), marked free
  (``TRANSP:TRANSPARENT``) so it never blocks time, with ``CATEGORIES`` ``INFOVIEW-<KIND>``.
  All-day events rather than ``VTODO``: every calendar app shows events, few show tasks from
  a subscription. ``UID`` is
  ``<kind>-<interview or contact id>[-<referrer id>]@infoview``, so an item that moves (a
  keep-in-touch date after a new letter) moves in the calendar too.
  Its ``DESCRIPTION`` names the interview (with whom, where they work, when) and the person to
  act towards (the referrer, for a report-back), never their ids.
- Every event's ``DTSTAMP`` and ``LAST-MODIFIED`` are the last change to what it shows, not
  the moment of the fetch: an unchanged feed is the same bytes, hence the same ETag.

The feed is bounded: interviews scheduled from 90 days ago to 365 days ahead, at most 1,000
of them — the upcoming ones first, then the most recent past ones — and at most 200 agenda
items. Both come from indexed queries on the owner's rows.

What users typed goes in as they typed it, and icalendar escapes it as RFC 5545 ``TEXT``
(line breaks as ``\n``, commas, semicolons). ``TEXT`` allows no other control character, so
the finished feed is written without any (VT, FF, ESC …, whichever property they were in). A
location is also the event's ``URL`` only when it is one whole http(s) URL, with no space or
line break in it.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from icalendar import Calendar, Event
from sqlmodel import Session

from app import __version__
from app.agenda import service as agenda_service
from app.agenda.schemas import AgendaItem
from app.calendar.repository import CalendarFeedRepository
from app.kit.db import utcnow
from app.kit.times import format_moment, local_date
from app.vocabulary import InterviewMode, InterviewState

PAST_WINDOW = timedelta(days=90)
FUTURE_WINDOW = timedelta(days=365)
MAX_INTERVIEWS = 1000
AGENDA_HORIZON = timedelta(days=30)
MAX_AGENDA_ITEMS = 200
DEFAULT_DURATION = timedelta(minutes=30)
# Notes are the user's own words and can be long; a calendar entry shows the start of them.
MAX_NOTES_CHARS = 2000
UID_DOMAIN = "infoview"

# Control characters no iCalendar value may hold: C0 but TAB, LF and CR (the feed's own line
# ends; icalendar escapes those of values), DEL and C1.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# A location that is a meeting link and nothing else.
_WHOLE_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f-\x9f]+", re.IGNORECASE)

_MODE_WORDS = {
    InterviewMode.IN_PERSON: "in person",
    InterviewMode.PHONE: "by phone",
    InterviewMode.VIDEO: "by video",
    InterviewMode.EMAIL: "by email",
}


@dataclass(frozen=True)
class _Scheduled:
    """One scheduled interview with its contact's details, as the feed needs them."""

    id: uuid.UUID
    scheduled_at: datetime
    duration_minutes: int | None
    location: str | None
    mode: str
    state: str
    career_field: str | None
    organization: str | None
    notes: str | None
    version: int
    updated_at: datetime
    contact_name: str
    contact_title: str | None
    contact_organization: str | None
    contact_updated_at: datetime


@dataclass(frozen=True)
class Feed:
    """The feed's body, and what a calendar app revalidates it with."""

    body: bytes
    etag: str  # a hash of the body, quoted
    last_modified: datetime  # the newest change among what it shows, in whole seconds (UTC)


class _Names:
    """The people and interviews the agenda's items are about, looked up in two queries."""

    def __init__(self, session: Session, owner_id: uuid.UUID, items: Sequence[AgendaItem]):
        repository = CalendarFeedRepository(session)
        self.contacts = {
            row.id: row for row in repository.contacts(owner_id, {i.contact_id for i in items})
        }
        interview_ids = {i.interview_id for i in items if i.interview_id is not None}
        self.interviews = {row.id: row for row in repository.interviews(owner_id, interview_ids)}


def build(session: Session, owner_id: uuid.UUID, *, now: datetime | None = None) -> Feed:
    """The owner's feed as iCalendar, with its ETag and Last-Modified.

    The body depends only on what it shows (and on the day: what falls due, what is overdue),
    never on the moment it is built, so an unchanged feed keeps its ETag: each event's
    ``DTSTAMP`` and ``LAST-MODIFIED`` are the last change to what it shows. That change is the
    newest ``updated_at`` of its rows, or the moment time alone changed it: when an interview
    came into the feed's year ahead, an agenda item into its 30 days, or an item fell overdue.
    The feed's Last-Modified is the newest of those and of the account's own change (its time
    zone words the items).
    """
    now = now or utcnow()
    changes = [CalendarFeedRepository(session).account_changed_at(owner_id) or now]
    calendar = Calendar()
    calendar.add("prodid", f"-//Infoview//Infoview {__version__}//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", "Infoview")
    calendar.add("x-wr-caldesc", "Informational interviews and what is due next")
    calendar.add("x-published-ttl", "PT1H")
    for interview in scheduled_interviews(session, owner_id, now=now):
        changed = _changed(
            now,
            interview.updated_at,
            interview.contact_updated_at,
            interview.scheduled_at - FUTURE_WINDOW,
        )
        changes.append(changed)
        calendar.add_component(_interview_event(interview, changed))
    due = agenda_service.agenda(
        session, owner_id, due_before=now + AGENDA_HORIZON, limit=MAX_AGENDA_ITEMS, now=now
    )
    names = _Names(session, owner_id, due.items)
    for item in due.items:
        event, changed = _agenda_event(item, now, due.time_zone, names)
        changes.append(changed)
        calendar.add_component(event)
    body = _CONTROL.sub("", calendar.to_ical().decode()).encode()
    return Feed(
        body=body,
        etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        last_modified=_changed(now, *changes),
    )


def _changed(now: datetime, *moments: datetime | None) -> datetime:
    """The newest of ``moments`` that is not after ``now``, in whole seconds (UTC)."""
    past = [m.astimezone(UTC) for m in moments if m is not None and m <= now]
    return max(past, default=now.astimezone(UTC)).replace(microsecond=0)


def scheduled_interviews(
    session: Session, owner_id: uuid.UUID, *, now: datetime
) -> list[_Scheduled]:
    """The feed's interviews, oldest first: upcoming ones first in line, then recent ones."""
    interviews = CalendarFeedRepository(session)
    upcoming = interviews.upcoming(
        owner_id, start=now, end=now + FUTURE_WINDOW, limit=MAX_INTERVIEWS
    )
    past: Sequence[Any] = []
    if len(upcoming) < MAX_INTERVIEWS:
        past = interviews.recent(
            owner_id, start=now - PAST_WINDOW, end=now, limit=MAX_INTERVIEWS - len(upcoming)
        )
    return [_Scheduled(**row._mapping) for row in [*reversed(past), *upcoming]]


def _interview_event(interview: _Scheduled, changed: datetime) -> Event:
    event = Event()
    start = interview.scheduled_at.astimezone(UTC)
    duration = (
        timedelta(minutes=interview.duration_minutes)
        if interview.duration_minutes
        else DEFAULT_DURATION
    )
    organization = interview.organization or interview.contact_organization
    summary = f"Informational interview with {interview.contact_name}"
    if organization:
        summary += f" ({organization})"
    event.add("uid", f"{interview.id}@{UID_DOMAIN}")
    event.add("dtstamp", changed)
    event.add("last-modified", changed)
    event.add("sequence", interview.version)
    event.add("dtstart", start)
    event.add("dtend", start + duration)
    event.add("summary", summary)
    if interview.location:
        event.add("location", interview.location)
        if _WHOLE_URL.fullmatch(interview.location):
            event.add("url", interview.location)
    event.add("description", _description(interview, organization))
    event.add(
        "status", "TENTATIVE" if interview.state == InterviewState.REQUEST.value else "CONFIRMED"
    )
    return event


def _description(interview: _Scheduled, organization: str | None) -> str:
    mode = InterviewMode(interview.mode)
    contact = interview.contact_name
    role = ", ".join(p for p in (interview.contact_title, organization) if p)
    if role:
        contact += f" ({role})"
    lines = [
        f"Informational interview {_MODE_WORDS[mode]} (mode: {mode.value})",
        f"Contact: {contact}",
    ]
    if interview.career_field:
        lines.append(f"Career field: {interview.career_field}")
    if interview.location:
        lines.append(f"Where: {interview.location}")
    lines.append(f"State: {interview.state}")
    if interview.notes:
        notes = interview.notes
        if len(notes) > MAX_NOTES_CHARS:
            notes = notes[:MAX_NOTES_CHARS].rstrip() + " …"
        lines += ["", "Notes:", notes]
    return "\n".join(lines)


def agenda_uid(item: AgendaItem) -> str:
    """A stable UID per due action: its kind and what it is about."""
    if item.interview_id is None:
        return f"{item.kind.value}-{item.contact_id}@{UID_DOMAIN}"
    uid = f"{item.kind.value}-{item.interview_id}"
    if item.kind.value == "report_back":
        uid += f"-{item.contact_id}"
    return f"{uid}@{UID_DOMAIN}"


def _agenda_event(
    item: AgendaItem, now: datetime, zone: str, names: _Names
) -> tuple[Event, datetime]:
    """An all-day event on the date the item falls due where the user lives (``zone``), and
    when what it shows last changed."""
    contact = names.contacts.get(item.contact_id)
    interview = names.interviews.get(item.interview_id) if item.interview_id else None
    changed = _changed(
        now,
        item.due_at - AGENDA_HORIZON,
        item.due_at if item.overdue else None,
        contact.updated_at if contact is not None else None,
        interview.updated_at if interview is not None else None,
        interview.contact_updated_at if interview is not None else None,
    )
    event = Event()
    day = local_date(item.due_at, zone)
    event.add("uid", agenda_uid(item))
    event.add("dtstamp", changed)
    event.add("last-modified", changed)
    event.add("dtstart", day)
    event.add("dtend", day + timedelta(days=1))
    event.add("summary", item.title)
    event.add("transp", "TRANSPARENT")
    event.add("categories", [f"INFOVIEW-{item.kind.value.upper().replace('_', '-')}"])
    lines = [
        item.title,
        f"Due: {item.due_label}" + (" (overdue)" if item.overdue else ""),
    ]
    if interview is not None:
        organization = interview.organization or interview.contact_organization
        about = f"Interview: with {interview.contact_name}"
        if organization:
            about += f" ({organization})"
        if interview.scheduled_at is not None:
            about += f", {format_moment(interview.scheduled_at, zone)}"
        lines.append(about)
    if contact is not None:
        role = ", ".join(p for p in (contact.title, contact.organization) if p)
        person = contact.full_name + (f" ({role})" if role else "")
        label = "Referrer" if item.kind.value == "report_back" else "Contact"
        lines.append(f"{label}: {person}")
    event.add("description", "\n".join(lines))
    return event, changed
