"""Every statement the agenda sends to the database.

One query per kind of due action, built once at import with bound parameters: a request only
binds its values and runs them, on a bare connection: one at a time, or all five as one
statement (:data:`ALL_AT_ONCE`) that starts from the caller's row. ``:owner`` scopes every
query to the caller; ``:<kind>_cut`` is the bound moved onto the column the kind's query scans
(``held_at < bound - 24 h``); ``:cap`` is ``limit + 1``. What each query looks for is the rule
of its kind, told in :mod:`app.agenda.service`; a complete checklist is the workflow's own
definition (``workflow.CHECKLIST``), written as a SQL condition.

Time arithmetic stays portable: a fixed delay ("7 days after the request") is moved onto a
bound parameter (``sent_at < bound - 7 days``) instead of being added to a column. The
keep-in-touch cadence differs per contact, so that one comparison adds days to a column,
through :class:`app.kit.portable.DaysAfter`, compiled for SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Boolean,
    CompoundSelect,
    Connection,
    Select,
    and_,
    bindparam,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.selectable import Join
from sqlmodel import Session

from app.agenda.schemas import AgendaKind
from app.contacts.schemas import Contact
from app.interactions.repository import answered
from app.interactions.schemas import Interaction
from app.interviews import workflow
from app.interviews.schemas import Interview, PrepChecklist
from app.kit.db import UTCDateTime
from app.kit.portable import Before, DaysAfter
from app.kit.queries import CALLER, caller_row, connection_of, owner_table
from app.letters.schemas import Letter
from app.referrals.schemas import Referral
from app.vocabulary import InterviewState, LetterKind, LetterStatus

# Whitespace an opening statement may consist of and still count as empty. (Python's
# str.strip() knows a few more Unicode spaces; a statement made only of those is not a case.)
_BLANKS = ("\t", "\n", "\r", "\v", "\f")

# Untyped handles on the tables, for column expressions mypy cannot follow through SQLModel.
Interviews: Any = Interview
Letters: Any = Letter
Contacts: Any = Contact
Checklists: Any = PrepChecklist
Referrals: Any = Referral
Interactions: Any = Interaction


# --- the queries ----------------------------------------------------------------------------------

_OWNER: Any = bindparam("owner")


def _cut(kind: AgendaKind) -> Any:
    """The bound parameter carrying one kind's cut: each its own, so that the five queries
    can run as one statement."""
    return bindparam(f"{kind.value}_cut", type_=UTCDateTime)


def _name_of(contact_id: Any, label: str) -> Any:
    """The contact's name, read for each row the query answers (never a join that could
    change how the query scans)."""
    return (
        select(Contacts.full_name)
        .where(Contacts.id == contact_id, Contacts.owner_id == _OWNER)
        .scalar_subquery()
        .label(label)
    )


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
_REQUEST: Any = aliased(Letter, name="request_letter")
_ANSWER: Any = aliased(Interaction, name="answer")
_LATER_ANSWER: Any = aliased(Interaction, name="later_answer")


def _request_sent_by(interview_id: Any, contact_id: Any, at: Any) -> Any:
    """The interview's request letter to ``contact_id`` was sent at or before ``at``."""
    return (
        select(_REQUEST.id)
        .where(
            _REQUEST.interview_id == interview_id,
            _REQUEST.owner_id == _OWNER,
            _REQUEST.kind == LetterKind.REQUEST.value,
            _REQUEST.status == LetterStatus.SENT.value,
            _REQUEST.recipient_id == contact_id,
            _REQUEST.sent_at <= at,
        )
        .exists()
    )


def _phone_of(contact_id: Any) -> Any:
    """The contact's phone number, for a follow-up to make as a call."""
    return (
        select(Contacts.phone)
        .where(Contacts.id == contact_id, Contacts.owner_id == _OWNER)
        .scalar_subquery()
        .label("phone")
    )


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
# The interviewee answered the letter (a call that reached them, their reply, their yes: the
# workflow's ``ANSWERS``), at or after it and after the request was sent.
_answered_since = (
    select(_ANSWER.id)
    .where(
        _ANSWER.interview_id == Letters.interview_id,
        _ANSWER.owner_id == _OWNER,
        _ANSWER.contact_id == Letters.recipient_id,
        _ANSWER.occurred_at >= Letters.sent_at,
        answered(_ANSWER),
        _request_sent_by(_ANSWER.interview_id, _ANSWER.contact_id, _ANSWER.occurred_at),
    )
    .exists()
)
# Each waiting interview's last ask when it is a letter, oldest first: a scan of the owner's
# sent letters by send time that stops after ``cap`` interviews.
_LETTER_ASKS = (
    select(
        Interviews.id.label("id"),
        Interviews.contact_id.label("contact_id"),
        Letters.sent_at.label("last_sent"),
        _name_of(Interviews.contact_id, "name"),
        _phone_of(Interviews.contact_id),
        literal(False, Boolean).label("after_answer"),
    )
    .select_from(
        _OuterFirstJoin(
            Letters.__table__, Interviews.__table__, Interviews.id == Letters.interview_id
        )
    )
    .where(
        Letters.owner_id == _OWNER,
        Letters.status == LetterStatus.SENT.value,
        Letters.sent_at < _cut(AgendaKind.FOLLOW_UP),
        Letters.kind.in_(_WRITTEN_ASKS),
        Interviews.owner_id == _OWNER,
        Interviews.state == InterviewState.REQUEST.value,
        Interviews.scheduled_at.is_(None),
        Letters.recipient_id == Interviews.contact_id,
        not_(_asked_again),
        not_(_answered_since),
    )
)
# A later answer, or a later request or follow-up letter, than the interaction.
_answered_again = (
    select(_LATER_ANSWER.id)
    .where(
        _LATER_ANSWER.interview_id == Interactions.interview_id,
        _LATER_ANSWER.owner_id == _OWNER,
        _LATER_ANSWER.contact_id == Interactions.contact_id,
        answered(_LATER_ANSWER),
        or_(
            _LATER_ANSWER.occurred_at > Interactions.occurred_at,
            and_(
                _LATER_ANSWER.occurred_at == Interactions.occurred_at,
                _LATER_ANSWER.id > Interactions.id,
            ),
        ),
    )
    .exists()
)
_written_since = (
    select(_LATER_ASK.id)
    .where(
        _LATER_ASK.interview_id == Interactions.interview_id,
        _LATER_ASK.owner_id == _OWNER,
        _LATER_ASK.kind.in_(_WRITTEN_ASKS),
        _LATER_ASK.status == LetterStatus.SENT.value,
        _LATER_ASK.recipient_id == Interactions.contact_id,
        _LATER_ASK.sent_at > Interactions.occurred_at,
    )
    .exists()
)
# Each waiting interview's last ask when it is an answer (the contact was reached, replied or
# said yes, and still no time is scheduled), oldest first: a scan of the owner's interactions
# by time.
_ANSWER_ASKS = (
    select(
        Interviews.id.label("id"),
        Interviews.contact_id.label("contact_id"),
        Interactions.occurred_at.label("last_sent"),
        _name_of(Interviews.contact_id, "name"),
        _phone_of(Interviews.contact_id),
        literal(True, Boolean).label("after_answer"),
    )
    .select_from(
        _OuterFirstJoin(
            Interactions.__table__,
            Interviews.__table__,
            Interviews.id == Interactions.interview_id,
        )
    )
    .where(
        Interactions.owner_id == _OWNER,
        Interactions.occurred_at < _cut(AgendaKind.FOLLOW_UP),
        answered(Interactions),
        Interviews.owner_id == _OWNER,
        Interviews.state == InterviewState.REQUEST.value,
        Interviews.scheduled_at.is_(None),
        Interactions.contact_id == Interviews.contact_id,
        _request_sent_by(Interviews.id, Interviews.contact_id, Interactions.occurred_at),
        not_(_written_since),
        not_(_answered_again),
    )
)
# The two merged in ask order and cut at ``cap``: each interview's last ask is either a letter
# or an answer, never both.
_follow_ups = union_all(_LETTER_ASKS, _ANSWER_ASKS)
FOLLOW_UP_QUERY: CompoundSelect[Any] = _follow_ups.order_by(
    _follow_ups.selected_columns.last_sent, _follow_ups.selected_columns.id
).limit(_CAP)


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
        _name_of(Interviews.contact_id, "name"),
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
        Interviews.scheduled_at < _cut(AgendaKind.PREPARE),
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
    select(
        Interviews.id,
        Interviews.contact_id,
        Interviews.held_at,
        _name_of(Interviews.contact_id, "name"),
    )
    .where(
        Interviews.owner_id == _OWNER,
        Interviews.state == InterviewState.HELD.value,
        Interviews.held_at < _cut(AgendaKind.THANK),
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
    select(
        Interviews.id,
        Interviews.contact_id,
        Interviews.thanked_at,
        Referrals.referrer_id,
        _name_of(Interviews.contact_id, "name"),
        _name_of(Referrals.referrer_id, "referrer_name"),
    )
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
        Interviews.thanked_at < _cut(AgendaKind.REPORT_BACK),
        not_(_reported),
    )
    .order_by(Interviews.thanked_at, Interviews.id, Referrals.referrer_id)
    .limit(_CAP)
)

_keep_in_touch_due = DaysAfter(
    func.coalesce(Contacts.last_contacted_at, Contacts.created_at), Contacts.keep_in_touch_days
)
KEEP_IN_TOUCH_QUERY = (
    select(
        Contacts.id,
        Contacts.keep_in_touch_days,
        Contacts.last_contacted_at,
        Contacts.created_at,
        Contacts.full_name.label("name"),
    )
    .where(
        Contacts.owner_id == _OWNER,
        Contacts.keep_in_touch_days.is_not(None),
        Contacts.archived == false(),
        Before(_keep_in_touch_due, _cut(AgendaKind.KEEP_IN_TOUCH)),
    )
    .order_by(_keep_in_touch_due, Contacts.id)
    .limit(_CAP)
)

# Each kind's query, by kind.
QUERIES: dict[AgendaKind, Select[Any] | CompoundSelect[Any]] = {
    AgendaKind.FOLLOW_UP: FOLLOW_UP_QUERY,
    AgendaKind.PREPARE: PREPARE_QUERY,
    AgendaKind.THANK: THANK_QUERY,
    AgendaKind.REPORT_BACK: REPORT_BACK_QUERY,
    AgendaKind.KEEP_IN_TOUCH: KEEP_IN_TOUCH_QUERY,
}


@cache
def all_at_once_statement(kinds: tuple[AgendaKind, ...]) -> Select[Any]:
    """The queries of ``kinds`` as one statement, from the owner's row: each answers its rows
    under the columns of all of them (``NULL`` where not its own) and a ``kind``; no owner row
    means the account is gone."""
    columns: dict[str, Any] = {}
    for query in QUERIES.values():
        for column in query.selected_columns:
            columns.setdefault(column.name, column.type)
    parts = []
    for kind in kinds:
        rows = QUERIES[kind].subquery(kind.value)
        parts.append(
            select(
                literal(kind.value).label("kind"),
                *(
                    rows.c[name] if name in rows.c else null().cast(type_).label(name)
                    for name, type_ in columns.items()
                ),
            )
        )
    due = union_all(*parts).subquery("due")
    return (
        select(_ACCOUNTS.c.id.label(CALLER), _ACCOUNTS.c.time_zone.label(CALLER_ZONE), *due.c)
        .select_from(_ACCOUNTS.outerjoin(due, true()))
        .where(caller_row(_ACCOUNTS, _OWNER))
    )


# The caller's account: where every agenda statement's owner lives; its time zone comes along.
CALLER_ZONE = "caller_time_zone"
_ACCOUNTS = owner_table(Interview.__table__)  # type: ignore[attr-defined]
ALL_AT_ONCE = all_at_once_statement(tuple(QUERIES))
CALLER_CHECK = select(_ACCOUNTS.c.id, _ACCOUNTS.c.time_zone.label(CALLER_ZONE)).where(
    caller_row(_ACCOUNTS, _OWNER)
)


class AgendaQueries:
    """Runs the queries for one owner, clock and row cap.

    Each kind's query takes its ``cut``: the horizon moved onto the column it scans. It answers
    at most ``cap`` rows, in due order, each with the name of the contact it is about
    (``name``; a report-back's referrer's in ``referrer_name``).
    """

    def __init__(
        self, db: Session | Connection, owner_id: uuid.UUID, now: datetime, cap: int
    ) -> None:
        self.connection = connection_of(db)
        self.owner_id = owner_id
        self.now = now
        self.cap = cap

    def _params(self, cuts: dict[AgendaKind, datetime]) -> dict[str, Any]:
        return {
            "owner": self.owner_id,
            "cap": self.cap,
            "now": self.now,
            **{f"{kind.value}_cut": cut for kind, cut in cuts.items()},
        }

    def rows(self, kind: AgendaKind, cut: datetime) -> Iterable[Any]:
        """One kind's due rows before ``cut``."""
        return self.connection.execute(QUERIES[kind], self._params({kind: cut}))

    def caller_time_zone(self) -> str | None:
        """The time zone of the caller's account; ``None`` if the account (or its session)
        no longer stands."""
        row = self.connection.execute(CALLER_CHECK, self._params({})).first()
        return None if row is None else str(row.caller_time_zone)

    def all_at_once(
        self, cuts: dict[AgendaKind, datetime]
    ) -> tuple[str, dict[AgendaKind, list[Any]]] | None:
        """The caller's time zone, and the due rows of each kind in ``cuts`` before its cut,
        in one statement that also checks the caller (``None``: the account is gone)."""
        found: dict[AgendaKind, list[Any]] = {kind: [] for kind in cuts}
        statement = all_at_once_statement(tuple(kind for kind in QUERIES if kind in cuts))
        rows = self.connection.execute(statement, self._params(cuts)).all()
        if not rows:
            return None
        for row in rows:
            if row.kind is not None:
                found[AgendaKind(row.kind)].append(row)
        return str(rows[0].caller_time_zone), found
