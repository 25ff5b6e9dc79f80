"""Every statement the figures and the field briefs send to the database.

The figures are grouped aggregates computed by the database over the caller's interviews, the
letters and the referrals: two statements (one when grouped by referrer), whatever the number
of interviews, each a single pass over the caller's interviews of the period. Every statement
is built once per grouping, with bound parameters (``:owner``, ``:start``, ``:end``, ``:top``)
and cached.

- :func:`group_rows` — per group: the interviews in each state, how many entered each state
  of the workflow, how many were held, thanked within 24 hours, had someone to report back to
  and reported back within 7 days, and the referrals their interviewees gave; and for each
  forward step, the milliseconds every interview that made it took, as one comma-separated
  text (the service takes their median: SQLite has no percentile, and sorting a few thousand
  numbers in Python costs far less than a window function over them, or than a row per
  interview). It starts from the caller's account row, so a gone account is told from one
  without interviews in the same statement.
- :func:`top_referrer_rows` — per group: the referrers whose leads (``interview.referral_id``)
  became held interviews, most first, at most ``:top`` each. Not needed when the groups are the
  referrers themselves: each group's only referrer is its own (the service says so).

Whether an interview reached a state is read from the time it records for that state (the
workflow's ``ENTERED_AT``): a move writes that time and its event in one unit of work, so the
two are the same fact, and the time is on the interview's own row. The interviews are read
from one index that holds every column the figures need (``ix_interview_figures``), and each
correlated check is a lookup in a covering index, made only for held interviews.

Which states follow which comes from :mod:`app.interviews.workflow`, letter kinds from
:mod:`app.vocabulary`. Time between two timestamps is the dialect's own arithmetic
(:mod:`app.kit.portable`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    Select,
    and_,
    bindparam,
    case,
    func,
    literal,
    select,
    true,
)

from app.contacts.schemas import Contact
from app.insights.schemas import StatsGrouping
from app.interviews import workflow
from app.interviews.schemas import Interview
from app.kit.db import UTCDateTime
from app.kit.portable import DaysBetween, JoinedText, MillisecondsBetween
from app.kit.queries import CALLER, caller_row, owner_table
from app.letters.schemas import Letter
from app.referrals.schemas import Referral
from app.vocabulary import InterviewState, LetterKind, LetterStatus

_INTERVIEWS: Any = Interview.__table__  # type: ignore[attr-defined]
_LETTERS: Any = Letter.__table__  # type: ignore[attr-defined]
_REFERRALS: Any = Referral.__table__  # type: ignore[attr-defined]
_CONTACTS: Any = Contact.__table__  # type: ignore[attr-defined]

_OWNER: Any = bindparam("owner")
_START: Any = bindparam("start", type_=UTCDateTime)
_END: Any = bindparam("end", type_=UTCDateTime)
_TOP: Any = bindparam("top")

# The courtesy deadlines, in days after the interview was held.
THANK_YOU_WITHIN_DAYS = 1.0
REPORT_BACK_WITHIN_DAYS = 7.0
# Floating-point days on SQLite: a letter sent exactly on the deadline still counts.
_SLACK = 1e-9

# The workflow's forward steps: from each state, the first state its table allows next (the
# forward move; the side exit comes after it in the workflow's order).
STEPS: tuple[tuple[InterviewState, InterviewState], ...] = tuple(
    (state, workflow.next_states(state)[0])
    for state in workflow.ORDER
    if workflow.next_states(state)
)


_ORDER = workflow.ORDER
# The states a step leads into or out of after the first: counted by the time they record.
_STEPPED: tuple[InterviewState, ...] = tuple(
    state for state in _ORDER if state != workflow.REQUEST and any(state in s for s in STEPS)
)


def step_label(n: int) -> str:
    """The name of :func:`group_rows`' column listing, for the n-th of :data:`STEPS`, the
    milliseconds each interview of the group that made the step took over it (the times of
    entering its two states), comma-separated, in no set order."""
    return f"step_{n}_ms"


def entered_label(state: InterviewState) -> str:
    """The name of :func:`group_rows`' column counting the interviews that entered ``state``."""
    return f"entered_{workflow.ENTERED_AT[state]}"


def _within(start: Any, end: Any, days: float) -> Any:
    """``end`` at or after ``start`` and at most ``days`` later."""
    return and_(end >= start, DaysBetween(start, end) <= days + _SLACK)


# --- what a group is --------------------------------------------------------------------------


class _Grouping:
    """The grouping's key and label expressions, and the joins they need, over ``interview``
    (without the label and the joins only it needs, unless ``labelled``)."""

    def __init__(self, grouping: StatsGrouping, *, labelled: bool = True) -> None:
        i = _INTERVIEWS
        self.referral = _REFERRALS.alias("lead")
        self.contact = _CONTACTS.alias("interviewee")
        self.referrer = _CONTACTS.alias("lead_referrer")
        source: Any = i
        label: Any = None
        if grouping in (StatsGrouping.REFERRER, StatsGrouping.REFERRER_RELATIONSHIP):
            source = source.outerjoin(
                self.referral,
                and_(self.referral.c.id == i.c.referral_id, self.referral.c.owner_id == _OWNER),
            )
        if grouping == StatsGrouping.REFERRER:
            key: Any = self.referral.c.referrer_id
            if labelled:
                source = source.outerjoin(
                    self.referrer, self.referrer.c.id == self.referral.c.referrer_id
                )
                label = func.max(self.referrer.c.full_name)
        elif grouping == StatsGrouping.REFERRER_RELATIONSHIP:
            key = self.referral.c.relationship
        elif grouping == StatsGrouping.CAREER_FIELD:
            # The interviewee's field, looked up only for an interview without one of its own.
            theirs = (
                select(self.contact.c.career_field)
                .where(self.contact.c.id == i.c.contact_id)
                .scalar_subquery()
            )
            field = func.coalesce(i.c.career_field, theirs)
            key = func.lower(field)
            label = func.max(field) if labelled else None
        elif grouping == StatsGrouping.MODE:
            key = i.c.mode
        else:  # one group: every interview of the caller's
            key = i.c.owner_id
        self.source = source
        self.key = key
        self.label = label if label is not None else literal(None)


def _in_period() -> list[Any]:
    i = _INTERVIEWS
    return [i.c.owner_id == _OWNER, i.c.requested_at >= _START, i.c.requested_at < _END]


def _letter_sent(
    kind: LetterKind, interview: Any, recipient: Any, held_at: Any, days: float
) -> Any:
    """A sent letter of ``kind`` for the interview to ``recipient``, within ``days`` after it
    was held (at or after ``held_at``: what the workflow counts)."""
    letters = _LETTERS
    return (
        select(literal(1))
        .where(
            letters.c.interview_id == interview,
            letters.c.kind == kind.value,
            letters.c.status == LetterStatus.SENT.value,
            letters.c.recipient_id == recipient,
            _within(held_at, letters.c.sent_at, days),
        )
        .correlate_except(letters)
        .exists()
    )


def _entered(state: InterviewState) -> Any:
    """The interview's column recording when it entered ``state``."""
    return _INTERVIEWS.c[workflow.ENTERED_AT[state]]


@cache
def group_statement(grouping: StatsGrouping) -> Select[Any]:
    """Per group, the interview-level figures; outer-joined to the caller's row.

    Each correlated check runs only for a held interview (a ``CASE`` that stops at
    ``held_at IS NULL``), as one lookup in a covering index.
    """
    i = _INTERVIEWS
    # A referrer's name is looked up once per group, after grouping, not once per interview.
    by_referrer = grouping == StatsGrouping.REFERRER
    g = _Grouping(grouping, labelled=not by_referrer)
    not_held = i.c.held_at.is_(None)
    # The interviewees someone referred the caller to: one set, looked up per held interview.
    referred = _REFERRALS.alias("referred")
    has_referrer = i.c.contact_id.in_(
        select(referred.c.referred_id).where(referred.c.owner_id == _OWNER)
    )
    unreported = _REFERRALS.alias("unreported")
    someone_unreported = (
        select(literal(1))
        .where(
            unreported.c.owner_id == _OWNER,
            unreported.c.referred_id == i.c.contact_id,
            ~_letter_sent(
                LetterKind.REPORT_BACK,
                i.c.id,
                unreported.c.referrer_id,
                i.c.held_at,
                REPORT_BACK_WITHIN_DAYS,
            ),
        )
        .exists()
    )
    given = _REFERRALS.alias("given")
    referrals_given = (
        select(func.count())
        .select_from(given)
        .where(given.c.owner_id == _OWNER, given.c.referrer_id == i.c.contact_id)
        .scalar_subquery()
    )
    thanked = _letter_sent(
        LetterKind.THANK_YOU, i.c.id, i.c.contact_id, i.c.held_at, THANK_YOU_WITHIN_DAYS
    )

    def tally(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    def held_and(*conditions: Any) -> Any:
        """1 for a held interview meeting every condition in turn, checked only if held."""
        whens = [(not_held, 0), *(((~c, 0)) for c in conditions)]
        return func.sum(case(*whens, else_=1))

    columns = [
        g.key.label("key"),
        g.label.label("label"),
        func.count().label("interviews"),
        *(tally(i.c.state == state.value).label(f"in_{n}") for n, state in enumerate(_ORDER)),
        *(func.count(_entered(state)).label(entered_label(state)) for state in _STEPPED),
        func.count(i.c.held_at).label("held"),
        held_and(thanked).label("thanked_in_time"),
        held_and(has_referrer).label("to_report"),
        held_and(has_referrer, ~someone_unreported).label("reported_in_time"),
        func.sum(case((not_held, 0), else_=referrals_given)).label("referrals_given"),
        *(
            JoinedText(MillisecondsBetween(_entered(source), _entered(target))).label(step_label(n))
            for n, (source, target) in enumerate(STEPS)
        ),
    ]
    groups = (
        select(*columns).select_from(g.source).where(*_in_period()).group_by(g.key).subquery("g")
    )
    label: Any = groups.c.label
    if by_referrer:
        person = _CONTACTS.alias("group_referrer")
        label = select(person.c.full_name).where(person.c.id == groups.c.key).scalar_subquery()
    owner = owner_table(_INTERVIEWS)
    return (
        select(
            owner.c.id.label(CALLER),
            *(c for c in groups.c if c.name != "label"),
            label.label("label"),
        )
        .select_from(owner.outerjoin(groups, true()))
        .where(caller_row(owner, _OWNER))
    )


@cache
def top_referrer_statement(grouping: StatsGrouping) -> Select[Any]:
    """Per group, the referrers whose leads became held interviews, at most ``:top`` each."""
    i = _INTERVIEWS
    g = _Grouping(grouping)
    lead = _REFERRALS.alias("top_lead")
    person = _CONTACTS.alias("top_referrer")
    counted = (
        select(
            g.key.label("key"),
            lead.c.referrer_id.label("contact_id"),
            func.max(person.c.full_name).label("full_name"),
            func.count().label("held_interviews"),
        )
        .select_from(
            g.source.join(lead, and_(lead.c.id == i.c.referral_id, lead.c.owner_id == _OWNER)).join(
                person, person.c.id == lead.c.referrer_id
            )
        )
        .where(*_in_period(), i.c.held_at.is_not(None))
        .group_by(g.key, lead.c.referrer_id)
        .subquery("counted")
    )
    ranked = select(
        *counted.c,
        func.row_number()
        .over(
            partition_by=counted.c.key,
            order_by=(counted.c.held_interviews.desc(), counted.c.full_name, counted.c.contact_id),
        )
        .label("rank"),
    ).subquery("ranked_referrers")
    return (
        select(*(c for c in ranked.c if c.name != "rank"))
        .where(ranked.c.rank <= _TOP)
        .order_by(ranked.c.key, ranked.c.rank)
    )


def _params(owner_id: uuid.UUID, start: datetime, end: datetime) -> dict[str, Any]:
    return {"owner": owner_id, "start": start, "end": end}


def group_rows(
    connection: Connection,
    grouping: StatsGrouping,
    owner_id: uuid.UUID,
    start: datetime,
    end: datetime,
) -> Sequence[Row[Any]]:
    """The interview-level figures per group; no row at all: the caller's account is gone, a
    single row without ``interviews``: no interview in the period."""
    return connection.execute(group_statement(grouping), _params(owner_id, start, end)).all()


def top_referrer_rows(
    connection: Connection,
    grouping: StatsGrouping,
    owner_id: uuid.UUID,
    start: datetime,
    end: datetime,
    top: int,
) -> Sequence[Row[Any]]:
    """Per group, its top referrers, most held interviews first."""
    params = {**_params(owner_id, start, end), "top": top}
    return connection.execute(top_referrer_statement(grouping), params).all()


# --- the field brief -----------------------------------------------------------------------------


@cache
def brief_statement() -> Select[Any]:
    """The caller's time zone, and the newest ``:cap`` interviews of a career field (matched
    ignoring case, the interview's field or else its interviewee's) with how many there are in
    all; outer-joined to the caller's row."""
    i = _INTERVIEWS
    c = _CONTACTS.alias("interviewee")
    field = func.coalesce(i.c.career_field, c.c.career_field)
    found = (
        select(
            i.c.id,
            i.c.contact_id,
            c.c.full_name.label("contact_name"),
            c.c.title,
            func.coalesce(i.c.organization, c.c.organization).label("organization"),
            field.label("career_field"),
            i.c.mode,
            i.c.state,
            i.c.requested_at,
            i.c.held_at,
            i.c.decision,
            i.c.questions,
            i.c.advice,
            i.c.next_steps,
            func.count().over().label("total"),
        )
        .select_from(i.join(c, c.c.id == i.c.contact_id))
        .where(i.c.owner_id == _OWNER, func.lower(field) == func.lower(bindparam("field")))
        .order_by(i.c.requested_at.desc(), i.c.id.desc())
        .limit(bindparam("cap"))
        .subquery("found")
    )
    owner = owner_table(_INTERVIEWS)
    return (
        select(owner.c.id.label(CALLER), owner.c.time_zone.label("time_zone"), *found.c)
        .select_from(owner.outerjoin(found, true()))
        .where(caller_row(owner, _OWNER))
        .order_by(found.c.requested_at.desc(), found.c.id.desc())
    )


def brief_rows(
    connection: Connection, owner_id: uuid.UUID, career_field: str, cap: int
) -> Sequence[Row[Any]]:
    """The field's newest interviews (at most ``cap``); see :func:`brief_statement`."""
    params = {"owner": owner_id, "field": career_field, "cap": cap}
    return connection.execute(brief_statement(), params).all()
