"""What is due: the agenda of docs/workflow.md, computed by indexed queries.

One query per kind of action, each filtered to what falls due before a bound, sorted by its
due time and cut at ``limit + 1``, so no query returns more than could be shown. The queries
run one after the other, and the sorted results are merged as they come (``heapq.merge``);
once ``limit + 1`` actions are in hand, the latest of them becomes the bound of the next
queries, whose index range scans then stop earlier. Only the final rows become items, with
their names read in one last query, and their due times computed in Python from the columns
read. The queries themselves, prepared once, are in :mod:`app.agenda.repository`; this module
keeps the rules: the delays, the merging, the items and their titles.

The kinds and their rules:

- ``follow_up`` — an interview in ``request`` with no time scheduled, whose last request or
  follow-up letter to the interviewee was sent 7 days before (found by walking the owner's
  sent letters oldest first, keeping each interview's last one). Due 7 days after that letter:
  sending a follow-up letter (or scheduling a time) clears it; a new one falls due 7 days
  after the follow-up.
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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection
from sqlmodel import Session

from app.agenda.repository import AgendaQueries
from app.agenda.schemas import AgendaItem, AgendaKind
from app.interviews import workflow
from app.kit.db import utcnow
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


class _Due(NamedTuple):
    """One due action as read, before names are looked up."""

    due_at: datetime
    kind: AgendaKind
    contact_id: uuid.UUID  # the person to act towards
    interview_id: uuid.UUID | None = None
    interviewee_id: uuid.UUID | None = None  # report_back: whom the interview was with
    missing: tuple[str, ...] = ()  # prepare: the checklist items still to do


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
) -> Agenda:
    """The owner's actions falling due before ``due_before``, oldest first, at most ``limit``."""
    now = now or utcnow()
    due_before = (due_before or default_horizon(now)).astimezone(UTC)
    cap = limit + 1
    queries = AgendaQueries(db, owner_id, now, cap)
    actions = _Actions(queries)
    # Cheap, early-stopping scans first, so their due times bound the costlier ones.
    runs: list[Callable[[datetime], list[_Due]]] = [
        actions.thank,
        actions.prepare,
        actions.keep_in_touch,
        actions.report_back,
        actions.follow_up,
    ]
    bound = due_before
    found: list[_Due] = []
    for run in runs:
        rows = sorted(run(bound), key=_key)
        found = list(itertools.islice(heapq.merge(found, rows, key=_key), cap))
        if len(found) == cap:
            bound = min(bound, found[-1].due_at + _TICK)
    shown = found[:limit]
    names = queries.names(
        {due.contact_id for due in shown} | {d.interviewee_id for d in shown if d.interviewee_id}
    )
    return Agenda(
        items=[_item(due, names, now) for due in shown],
        has_more=len(found) > limit,
        due_before=due_before,
        now=now,
    )


def _item(due: _Due, names: dict[uuid.UUID, str], now: datetime) -> AgendaItem:
    name = names.get(due.contact_id, "your contact")
    if due.kind == AgendaKind.FOLLOW_UP:
        title = (
            f"Follow up with {name} on your request for an informational interview "
            "(a call or a follow-up letter)"
        )
    elif due.kind == AgendaKind.PREPARE:
        todo = ", ".join(item.replace("_", " ") for item in due.missing)
        title = f"Prepare for your interview with {name}: {todo}"
    elif due.kind == AgendaKind.THANK:
        title = f"Send a thank-you to {name}"
    elif due.kind == AgendaKind.REPORT_BACK:
        interviewee = names.get(due.interviewee_id or due.contact_id, "your contact")
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
    )


def _aware(value: datetime) -> datetime:
    """A timestamp read through an aggregate, tagged UTC if the driver left it naive."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- the due actions of each kind -----------------------------------------------------------------


class _Actions:
    """The due actions of each kind up to a bound, their due times computed from the
    columns the repository's queries read."""

    def __init__(self, queries: AgendaQueries) -> None:
        self.queries = queries

    def follow_up(self, bound: datetime) -> list[_Due]:
        """Requests unanswered for 7 days, with no time scheduled."""
        return [
            _Due(
                _aware(row.last_sent) + FOLLOW_UP_AFTER,
                AgendaKind.FOLLOW_UP,
                row.contact_id,
                row.id,
            )
            for row in self.queries.follow_up(bound - FOLLOW_UP_AFTER)
        ]

    def prepare(self, bound: datetime) -> list[_Due]:
        """Interviews within 3 days whose preparation checklist is incomplete."""
        return [
            _Due(
                row.scheduled_at - PREPARE_BEFORE,
                AgendaKind.PREPARE,
                row.contact_id,
                row.id,
                missing=tuple(_missing(row)),
            )
            for row in self.queries.prepare(bound + PREPARE_BEFORE)
        ]

    def thank(self, bound: datetime) -> list[_Due]:
        """Held interviews with no thank-you sent since."""
        return [
            _Due(row.held_at + THANK_AFTER, AgendaKind.THANK, row.contact_id, row.id)
            for row in self.queries.thank(bound - THANK_AFTER)
        ]

    def report_back(self, bound: datetime) -> list[_Due]:
        """Thanked interviews with a referrer not yet reported to: one item per referrer."""
        return [
            _Due(
                row.thanked_at + REPORT_BACK_AFTER,
                AgendaKind.REPORT_BACK,
                row.referrer_id,
                row.id,
                interviewee_id=row.contact_id,
            )
            for row in self.queries.report_back(bound - REPORT_BACK_AFTER)
        ]

    def keep_in_touch(self, bound: datetime) -> list[_Due]:
        """Contacts with a cadence whose last contact is more than a cadence ago."""
        return [
            _Due(
                (row.last_contacted_at or row.created_at) + timedelta(days=row.keep_in_touch_days),
                AgendaKind.KEEP_IN_TOUCH,
                row.id,
            )
            for row in self.queries.keep_in_touch(bound)
        ]


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
