"""What is due: the agenda of docs/workflow.md, computed by indexed queries.

One query per kind of action, each filtered to what falls due before a bound, sorted by its
due time and cut at ``limit + 1``, so no query returns more than could be shown; each row
carries the names its item's title needs. On PostgreSQL, where every round trip costs time,
the five run as one statement that also checks the caller. On SQLite, in the process, they run
one after the other, and once ``limit + 1`` actions are in hand the latest of them becomes the
bound of the next queries, whose index range scans then stop earlier. Either way the sorted
results are merged (``heapq.merge``) and due times are computed in Python from the columns
read. The queries themselves, prepared once, are in :mod:`app.agenda.repository`; this module
keeps the rules: the delays, the merging, the items and their titles.

The kinds and their rules:

- ``follow_up`` — an interview in ``request`` with no time scheduled, whose last ask of the
  interviewee was 7 days before. An ask is a request or follow-up letter sent, or an answer
  logged at or after the request letter was sent: an interaction that reached the interviewee
  (the workflow's ``ANSWERS``: a call that reached them, their reply, their yes). Found by
  walking the owner's sent letters and interactions oldest first, keeping each interview's
  last ask. Due 7 days after it: sending a follow-up letter, logging an answer (or scheduling a
  time) clears it; a new one falls due 7 days after. The item says to call, with the number,
  when the interviewee has a phone number.
- ``prepare`` — an interview in ``request`` or ``prepared`` scheduled within 3 days from now
  (a time already past is no longer to prepare for), whose checklist is incomplete by the
  workflow's rule: the opening statement needs a text, attire counts only in person. Due 3
  days before the scheduled time.
- ``thank`` — an interview ``held`` with no thank-you letter to the interviewee sent at or
  after ``held_at``. Due 24 hours after ``held_at``.
- ``report_back`` — an interview ``thanked`` whose interviewee has a referrer with no
  report-back letter for this interview sent at or after ``held_at``. One item per referrer
  (``contact_id`` is the referrer to write to), each cleared by its own letter. Due 7 days
  after ``thanked_at``.
- ``keep_in_touch`` — a contact, not archived, with a cadence, last contacted (or, never
  contacted, created) more than the cadence ago. Due at ``last_contacted_at + cadence``.
"""

from __future__ import annotations

import heapq
import itertools
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection
from sqlmodel import Session

from app.agenda.repository import AgendaQueries
from app.agenda.schemas import AgendaItem, AgendaKind, FollowUpAction
from app.interviews import workflow
from app.kit.db import utcnow
from app.kit.errors import caller_gone
from app.kit.times import format_moment
from app.vocabulary import InterviewMode

FOLLOW_UP_AFTER = timedelta(days=7)
PREPARE_BEFORE = timedelta(days=3)
THANK_AFTER = timedelta(hours=24)
REPORT_BACK_AFTER = timedelta(days=7)

DEFAULT_HORIZON = timedelta(days=7)
# The API's cap on one request (the project's bound on any `limit`); the feed asks for more.
MAX_LIMIT = 100

# Ties on the due time are broken by kind in this order, then by ids: a stable order.
_KIND_RANK = {kind: rank for rank, kind in enumerate(AgendaKind)}
# A bound taken from an action's due time must still let through actions due at that time.
_TICK = timedelta(microseconds=1)
_NIL = uuid.UUID(int=0)


# --- the agenda ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agenda:
    """The due actions, oldest first, and whether more fall due before the horizon."""

    items: list[AgendaItem]
    has_more: bool
    due_before: datetime
    now: datetime
    time_zone: str  # the user's, which the items' words are in


class _Due(NamedTuple):
    """One due action as read, before names are looked up."""

    due_at: datetime
    kind: AgendaKind
    contact_id: uuid.UUID  # the person to act towards
    name: str | None  # their name
    interview_id: uuid.UUID | None = None
    interviewee_name: str | None = None  # report_back: whom the interview was with
    missing: tuple[str, ...] = ()  # prepare: the checklist items still to do
    phone: str | None = None  # follow_up: the number to call, if the contact has one
    after_answer: bool = False  # follow_up: the last ask was the contact's answer, not a letter


def _key(due: _Due) -> tuple[datetime, int, uuid.UUID, uuid.UUID]:
    return (due.due_at, _KIND_RANK[due.kind], due.interview_id or _NIL, due.contact_id)


def default_horizon(now: datetime) -> datetime:
    """What "due" means when the caller gives no horizon: within the next 7 days."""
    return now + DEFAULT_HORIZON


def agenda(
    db: Session | Connection,
    owner_id: uuid.UUID,
    *,
    due_before: datetime | None = None,
    limit: int = 100,
    now: datetime | None = None,
    kinds: Collection[AgendaKind] | None = None,
) -> Agenda:
    """The owner's actions falling due before ``due_before``, oldest first, at most ``limit``;
    only those of ``kinds`` if given (the courtesies owed are the agenda's letters).

    A 401 if the caller's account is gone: the read checks it.
    """
    now = now or utcnow()
    due_before = (due_before or default_horizon(now)).astimezone(UTC)
    cap = limit + 1
    queries = AgendaQueries(db, owner_id, now, cap)
    wanted = [kind for kind in _CUTS if kinds is None or kind in kinds]
    if queries.connection.dialect.name == "sqlite":
        zone, found = _one_by_one(queries, due_before, wanted)
    else:
        zone, found = _all_at_once(queries, due_before, wanted)
    shown = found[:limit]
    return Agenda(
        items=[_item(due, now, zone) for due in shown],
        has_more=len(found) > limit,
        due_before=due_before,
        now=now,
        time_zone=zone,
    )


def _all_at_once(
    queries: AgendaQueries, due_before: datetime, kinds: list[AgendaKind]
) -> tuple[str, list[_Due]]:
    """Where a round trip costs time (PostgreSQL): every kind's query in one statement, with
    the caller's time zone."""
    answer = queries.all_at_once({kind: _CUTS[kind](due_before) for kind in kinds})
    if answer is None:
        raise caller_gone()
    zone, rows = answer
    merged = heapq.merge(*(sorted(_DUES[kind](rows[kind]), key=_key) for kind in kinds), key=_key)
    return zone, list(itertools.islice(merged, queries.cap))


def _one_by_one(
    queries: AgendaQueries, due_before: datetime, kinds: list[AgendaKind]
) -> tuple[str, list[_Due]]:
    """In the process (SQLite), where a statement costs no round trip: the caller's time
    zone, then the kinds one after the other, cheap early-stopping scans first, each kind's
    cut tightened to the due time of the last action already in hand once ``limit + 1``
    are."""
    zone = queries.caller_time_zone()
    if zone is None:
        raise caller_gone()
    bound = due_before
    found: list[_Due] = []
    for kind in kinds:
        rows = sorted(_DUES[kind](queries.rows(kind, _CUTS[kind](bound))), key=_key)
        found = list(itertools.islice(heapq.merge(found, rows, key=_key), queries.cap))
        if len(found) == queries.cap:
            bound = min(bound, found[-1].due_at + _TICK)
    return zone, found


def _item(due: _Due, now: datetime, zone: str) -> AgendaItem:
    """The action in words, its times in the user's ``zone``."""
    name = due.name or "your contact"
    action = None
    if due.kind == AgendaKind.FOLLOW_UP:
        action = FollowUpAction.CALL if due.phone else FollowUpAction.LETTER
        if due.phone and due.after_answer:
            title = f"Call {name} at {due.phone} to set a time for your informational interview"
        elif due.phone:
            title = (
                f"Call {name} at {due.phone} to follow up on your request for an informational "
                "interview"
            )
        elif due.after_answer:
            title = f"Follow up with {name} to set a time for your informational interview"
        else:
            title = (
                f"Follow up with {name} on your request for an informational interview "
                "(a call or a follow-up letter)"
            )
    elif due.kind == AgendaKind.PREPARE:
        todo = ", ".join(item.replace("_", " ") for item in due.missing)
        when = format_moment(due.due_at + PREPARE_BEFORE, zone)
        title = f"Prepare for your interview with {name} on {when}: {todo}"
    elif due.kind == AgendaKind.THANK:
        title = f"Send a thank-you to {name}"
    elif due.kind == AgendaKind.REPORT_BACK:
        interviewee = due.interviewee_name or "your contact"
        title = f"Report back to {name} on your interview with {interviewee}"
    else:
        title = f"Keep in touch with {name}"
    return AgendaItem(
        kind=due.kind,
        due_at=due.due_at,
        overdue=due.due_at < now,
        interview_id=due.interview_id,
        contact_id=due.contact_id,
        title=title,
        due_label=format_moment(due.due_at, zone),
        action=action,
        phone=due.phone if action == FollowUpAction.CALL else None,
    )


def _aware(value: datetime) -> datetime:
    """A timestamp read through an aggregate, tagged UTC if the driver left it naive."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- the due actions of each kind -----------------------------------------------------------------
# For each kind: the cut its query scans up to, from the bound on due times, and its rows as
# due actions. In this order the cheap, early-stopping scans come first.

_CUTS: dict[AgendaKind, Callable[[datetime], datetime]] = {
    AgendaKind.THANK: lambda bound: bound - THANK_AFTER,
    AgendaKind.PREPARE: lambda bound: bound + PREPARE_BEFORE,
    AgendaKind.KEEP_IN_TOUCH: lambda bound: bound,
    AgendaKind.REPORT_BACK: lambda bound: bound - REPORT_BACK_AFTER,
    AgendaKind.FOLLOW_UP: lambda bound: bound - FOLLOW_UP_AFTER,
}


def _follow_ups(rows: Iterable[Any]) -> list[_Due]:
    """Requests unanswered for 7 days, with no time scheduled."""
    return [
        _Due(
            _aware(row.last_sent) + FOLLOW_UP_AFTER,
            AgendaKind.FOLLOW_UP,
            row.contact_id,
            row.name,
            row.id,
            phone=(row.phone or "").strip() or None,
            after_answer=bool(row.after_answer),
        )
        for row in rows
    ]


def _preparations(rows: Iterable[Any]) -> list[_Due]:
    """Interviews within 3 days whose preparation checklist is incomplete."""
    return [
        _Due(
            _aware(row.scheduled_at) - PREPARE_BEFORE,
            AgendaKind.PREPARE,
            row.contact_id,
            row.name,
            row.id,
            missing=tuple(_missing(row)),
        )
        for row in rows
    ]


def _thanks(rows: Iterable[Any]) -> list[_Due]:
    """Held interviews with no thank-you sent since."""
    return [
        _Due(_aware(row.held_at) + THANK_AFTER, AgendaKind.THANK, row.contact_id, row.name, row.id)
        for row in rows
    ]


def _reports(rows: Iterable[Any]) -> list[_Due]:
    """Thanked interviews with a referrer not yet reported to: one item per referrer."""
    return [
        _Due(
            _aware(row.thanked_at) + REPORT_BACK_AFTER,
            AgendaKind.REPORT_BACK,
            row.referrer_id,
            row.referrer_name,
            row.id,
            interviewee_name=row.name,
        )
        for row in rows
    ]


def _keeping_in_touch(rows: Iterable[Any]) -> list[_Due]:
    """Contacts with a cadence whose last contact is more than a cadence ago."""
    return [
        _Due(
            _aware(row.last_contacted_at or row.created_at)
            + timedelta(days=row.keep_in_touch_days),
            AgendaKind.KEEP_IN_TOUCH,
            row.id,
            row.name,
        )
        for row in rows
    ]


_DUES: dict[AgendaKind, Callable[[Iterable[Any]], list[_Due]]] = {
    AgendaKind.THANK: _thanks,
    AgendaKind.PREPARE: _preparations,
    AgendaKind.KEEP_IN_TOUCH: _keeping_in_touch,
    AgendaKind.REPORT_BACK: _reports,
    AgendaKind.FOLLOW_UP: _follow_ups,
}


def _missing(row: Any) -> list[str]:
    """The checklist items still to do, by the workflow's own rule."""
    if row.checklist_id is None:
        return list(workflow.CHECKLIST_ITEMS)
    done = {item: bool(getattr(row, f"{item}_done")) for item in workflow.CHECKLIST_ITEMS}
    texts = {
        item.name: getattr(row, f"{item.name}_text")
        for item in workflow.CHECKLIST
        if item.needs_text
    }
    missing = workflow.missing_checklist_items(done, texts, InterviewMode(row.mode))
    # Only a statement of exotic blanks reaches here complete by Python's rule; name it anyway.
    return missing or ["opening_statement"]
