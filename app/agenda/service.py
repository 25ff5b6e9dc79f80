"""What is due: the agenda of docs/workflow.md, computed by indexed queries.

One query per kind of action, each filtered to what falls due before a bound, sorted by its
due time and cut at ``limit + 1``, so no query returns more than could be shown. The queries
run one after the other, and the sorted results are merged as they come (``heapq.merge``);
once ``limit + 1`` actions are in hand, the latest of them becomes the bound of the next
queries, whose index range scans then stop earlier. Only the final rows become items, with
their names read in one last query, and their due times computed in Python from the columns
read.

Time arithmetic stays portable: a fixed delay ("7 days after the request") is moved onto a
bound parameter (``sent_at < bound - 7 days``) instead of being added to a column. The
keep-in-touch cadence differs per contact, so that one comparison adds days to a column,
through :class:`_DaysAfter`, compiled for SQLite and PostgreSQL.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    Boolean,
    Connection,
    and_,
    bindparam,
    false,
    func,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import Join
from sqlmodel import Session

from app.agenda.schemas import AgendaItem, AgendaKind
from app.contacts.schemas import Contact
from app.interviews import workflow
from app.interviews.schemas import Interview, PrepChecklist
from app.kit.db import UTCDateTime, utcnow
from app.kit.queries import connection_of
from app.letters.schemas import Letter
from app.referrals.schemas import Referral
from app.vocabulary import InterviewMode, InterviewState, LetterKind, LetterStatus

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

# Whitespace an opening statement may consist of and still count as empty. (Python's
# str.strip() knows a few more Unicode spaces; a statement made only of those is not a case.)
_BLANKS = ("\t", "\n", "\r", "\v", "\f")

# Untyped handles on the tables, for column expressions mypy cannot follow through SQLModel.
Interviews: Any = Interview
Letters: Any = Letter
Contacts: Any = Contact
Checklists: Any = PrepChecklist
Referrals: Any = Referral


# --- portable "timestamp + n days" --------------------------------------------------------------


class _DaysAfter(FunctionElement[Any]):
    """``timestamp + days`` for an integer column of days, in the dialect's own arithmetic.

    Only compared (:class:`_Before`) and sorted on, never selected: on SQLite it is a Julian
    day number, on PostgreSQL a timestamp.
    """

    name = "days_after"
    inherit_cache = True


class _Before(FunctionElement[bool]):
    """``_DaysAfter(...) < instant``, with the instant as a bound timestamp."""

    type = Boolean()
    name = "before"
    inherit_cache = True


@compiles(_DaysAfter, "sqlite")
def _days_after_sqlite(element: _DaysAfter, compiler: SQLCompiler, **kw: Any) -> str:
    timestamp, days = (compiler.process(c, **kw) for c in element.clauses)
    return f"(julianday({timestamp}) + {days})"


@compiles(_DaysAfter, "postgresql")
def _days_after_postgresql(element: _DaysAfter, compiler: SQLCompiler, **kw: Any) -> str:
    timestamp, days = (compiler.process(c, **kw) for c in element.clauses)
    return f"({timestamp} + make_interval(days => {days}))"


@compiles(_Before, "sqlite")
def _before_sqlite(element: _Before, compiler: SQLCompiler, **kw: Any) -> str:
    moment, instant = (compiler.process(c, **kw) for c in element.clauses)
    return f"{moment} < julianday({instant})"


@compiles(_Before, "postgresql")
def _before_postgresql(element: _Before, compiler: SQLCompiler, **kw: Any) -> str:
    moment, instant = (compiler.process(c, **kw) for c in element.clauses)
    return f"{moment} < {instant}"


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
    query = _Queries(db, owner_id, now, cap)
    # Cheap, early-stopping scans first, so their due times bound the costlier ones.
    runs: list[Callable[[datetime], list[_Due]]] = [
        query.thank,
        query.prepare,
        query.keep_in_touch,
        query.report_back,
        query.follow_up,
    ]
    bound = due_before
    found: list[_Due] = []
    for run in runs:
        rows = sorted(run(bound), key=_key)
        found = list(itertools.islice(heapq.merge(found, rows, key=_key), cap))
        if len(found) == cap:
            bound = min(bound, found[-1].due_at + _TICK)
    shown = found[:limit]
    names = query.names(
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


# --- the queries ----------------------------------------------------------------------------------
#
# Built once, with bound parameters: each request then only binds values and runs them.
# ``:owner`` scopes every query to the caller; ``:cut`` is the bound moved onto the column the
# query scans (``held_at < bound - 24 h``); ``:cap`` is ``limit + 1``.

_OWNER: Any = bindparam("owner")
_CUT = bindparam("cut", type_=UTCDateTime)
_CAP: Any = bindparam("cap")


class _OuterFirstJoin(Join):
    """A join whose left side must be the outer loop of the plan.

    SQLite's planner would rather start from the interviews (an index matches three of their
    columns) and sort everything found; the follow-up query must walk the letters in send
    order and stop early. ``CROSS JOIN`` is how SQLite is told the order of the loops; other
    databases get a plain join and plan it themselves.
    """

    inherit_cache = True


@compiles(_OuterFirstJoin, "sqlite")
def _outer_first_join_sqlite(element: _OuterFirstJoin, compiler: SQLCompiler, **kw: Any) -> str:
    kw["asfrom"] = True
    left = element.left._compiler_dispatch(compiler, **kw)
    right = element.right._compiler_dispatch(compiler, **kw)
    assert element.onclause is not None
    return f"{left} CROSS JOIN {right} ON {compiler.process(element.onclause, **kw)}"


_WRITTEN_ASKS = [LetterKind.REQUEST.value, LetterKind.FOLLOW_UP.value]
_LATER_ASK: Any = aliased(Letter, name="later_ask")
# A later request or follow-up letter for the same interview and recipient (ties on the send
# time broken by id): the letter that is not followed by one is the interview's last ask.
_asked_again = (
    select(_LATER_ASK.id)
    .where(
        _LATER_ASK.interview_id == Letters.interview_id,
        _LATER_ASK.owner_id == _OWNER,
        _LATER_ASK.kind.in_(_WRITTEN_ASKS),
        _LATER_ASK.status == LetterStatus.SENT.value,
        _LATER_ASK.recipient_id == Letters.recipient_id,
        or_(
            _LATER_ASK.sent_at > Letters.sent_at,
            and_(_LATER_ASK.sent_at == Letters.sent_at, _LATER_ASK.id > Letters.id),
        ),
    )
    .exists()
)
# Each waiting interview's last ask, oldest first: a scan of the owner's sent letters by send
# time that stops after ``cap`` interviews.
FOLLOW_UP_QUERY = (
    select(Interviews.id, Interviews.contact_id, Letters.sent_at.label("last_sent"))
    .select_from(
        _OuterFirstJoin(
            Letters.__table__, Interviews.__table__, Interviews.id == Letters.interview_id
        )
    )
    .where(
        Letters.owner_id == _OWNER,
        Letters.status == LetterStatus.SENT.value,
        Letters.sent_at < _CUT,
        Letters.kind.in_(_WRITTEN_ASKS),
        Interviews.owner_id == _OWNER,
        Interviews.state == InterviewState.REQUEST.value,
        Interviews.scheduled_at.is_(None),
        Letters.recipient_id == Interviews.contact_id,
        not_(_asked_again),
    )
    .order_by(Letters.sent_at, Interviews.id)
    .limit(_CAP)
)


def _checklist_complete() -> Any:
    """The workflow's checklist definition (``workflow.CHECKLIST``), as a SQL condition."""
    conditions = []
    for item in workflow.CHECKLIST:
        done: Any = getattr(Checklists, f"{item.name}_done") == true()
        if item.needs_text:
            text: Any = func.coalesce(getattr(Checklists, f"{item.name}_text"), "")
            for blank in _BLANKS:
                text = func.replace(text, blank, " ")
            done = and_(done, func.trim(text) != "")
        if item.only_for is not None:
            done = or_(Interviews.mode != item.only_for.value, done)
        conditions.append(done)
    return and_(*conditions)


_CHECKLIST_COMPLETE = _checklist_complete()
PREPARE_QUERY = (
    select(
        Interviews.id,
        Interviews.contact_id,
        Interviews.mode,
        Interviews.scheduled_at,
        Checklists.interview_id.label("checklist_id"),
        *(getattr(Checklists, f"{item.name}_done") for item in workflow.CHECKLIST),
        *(
            getattr(Checklists, f"{item.name}_text")
            for item in workflow.CHECKLIST
            if item.needs_text
        ),
    )
    .outerjoin(Checklists, Checklists.interview_id == Interviews.id)
    .where(
        Interviews.owner_id == _OWNER,
        Interviews.state.in_([InterviewState.REQUEST.value, InterviewState.PREPARED.value]),
        Interviews.scheduled_at >= bindparam("now", type_=UTCDateTime),
        Interviews.scheduled_at < _CUT,
        or_(Checklists.interview_id.is_(None), not_(_CHECKLIST_COMPLETE)),
    )
    .order_by(Interviews.scheduled_at, Interviews.id)
    .limit(_CAP)
)

_thanked = (
    select(Letters.id)
    .where(
        Letters.interview_id == Interviews.id,
        Letters.kind == LetterKind.THANK_YOU.value,
        Letters.status == LetterStatus.SENT.value,
        Letters.recipient_id == Interviews.contact_id,
        Letters.sent_at >= Interviews.held_at,
    )
    .exists()
)
THANK_QUERY = (
    select(Interviews.id, Interviews.contact_id, Interviews.held_at)
    .where(
        Interviews.owner_id == _OWNER,
        Interviews.state == InterviewState.HELD.value,
        Interviews.held_at < _CUT,
        not_(_thanked),
    )
    .order_by(Interviews.held_at, Interviews.id)
    .limit(_CAP)
)

_reported = (
    select(Letters.id)
    .where(
        Letters.interview_id == Interviews.id,
        Letters.kind == LetterKind.REPORT_BACK.value,
        Letters.status == LetterStatus.SENT.value,
        Letters.recipient_id == Referrals.referrer_id,
        or_(Interviews.held_at.is_(None), Letters.sent_at >= Interviews.held_at),
    )
    .exists()
)
REPORT_BACK_QUERY = (
    select(Interviews.id, Interviews.contact_id, Interviews.thanked_at, Referrals.referrer_id)
    .join(
        Referrals,
        and_(
            Referrals.owner_id == Interviews.owner_id,
            Referrals.referred_id == Interviews.contact_id,
        ),
    )
    .where(
        Interviews.owner_id == _OWNER,
        Interviews.state == InterviewState.THANKED.value,
        Interviews.thanked_at < _CUT,
        not_(_reported),
    )
    .order_by(Interviews.thanked_at, Interviews.id, Referrals.referrer_id)
    .limit(_CAP)
)

_keep_in_touch_due = _DaysAfter(
    func.coalesce(Contacts.last_contacted_at, Contacts.created_at), Contacts.keep_in_touch_days
)
KEEP_IN_TOUCH_QUERY = (
    select(
        Contacts.id, Contacts.keep_in_touch_days, Contacts.last_contacted_at, Contacts.created_at
    )
    .where(
        Contacts.owner_id == _OWNER,
        Contacts.keep_in_touch_days.is_not(None),
        Contacts.archived == false(),
        _Before(_keep_in_touch_due, _CUT),
    )
    .order_by(_keep_in_touch_due, Contacts.id)
    .limit(_CAP)
)

NAMES_QUERY = select(Contacts.id, Contacts.full_name).where(
    Contacts.owner_id == _OWNER, Contacts.id.in_(bindparam("ids", expanding=True))
)


class _Queries:
    """Runs the queries for one owner, clock and row cap."""

    def __init__(
        self, db: Session | Connection, owner_id: uuid.UUID, now: datetime, cap: int
    ) -> None:
        self.connection = connection_of(db)
        self.owner_id = owner_id
        self.now = now
        self.cap = cap

    def _rows(self, statement: Any, cut: datetime, **params: Any) -> Iterable[Any]:
        return self.connection.execute(
            statement, {"owner": self.owner_id, "cut": cut, "cap": self.cap, **params}
        )

    def names(self, contact_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The names of the contacts the shown actions are about."""
        if not contact_ids:
            return {}
        rows = self.connection.execute(
            NAMES_QUERY, {"owner": self.owner_id, "ids": sorted(contact_ids)}
        )
        return {row.id: row.full_name for row in rows}

    def follow_up(self, bound: datetime) -> list[_Due]:
        """Requests unanswered for 7 days, with no time scheduled."""
        return [
            _Due(
                _aware(row.last_sent) + FOLLOW_UP_AFTER,
                AgendaKind.FOLLOW_UP,
                row.contact_id,
                row.id,
            )
            for row in self._rows(FOLLOW_UP_QUERY, bound - FOLLOW_UP_AFTER)
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
            for row in self._rows(PREPARE_QUERY, bound + PREPARE_BEFORE, now=self.now)
        ]

    def thank(self, bound: datetime) -> list[_Due]:
        """Held interviews with no thank-you sent since."""
        return [
            _Due(row.held_at + THANK_AFTER, AgendaKind.THANK, row.contact_id, row.id)
            for row in self._rows(THANK_QUERY, bound - THANK_AFTER)
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
            for row in self._rows(REPORT_BACK_QUERY, bound - REPORT_BACK_AFTER)
        ]

    def keep_in_touch(self, bound: datetime) -> list[_Due]:
        """Contacts with a cadence whose last contact is more than a cadence ago."""
        return [
            _Due(
                (row.last_contacted_at or row.created_at) + timedelta(days=row.keep_in_touch_days),
                AgendaKind.KEEP_IN_TOUCH,
                row.id,
            )
            for row in self._rows(KEEP_IN_TOUCH_QUERY, bound)
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
