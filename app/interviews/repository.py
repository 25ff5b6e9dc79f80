"""Every statement the interviews domain sends to the database.

Reads are scoped to the caller: another user's interview (or the contact or referral a request
names) is not found. The hot reads, one interview and a page of them, are Core statements
prepared once and run on a bare connection; they also prove the caller's account exists. A
move through the workflow is a compare-and-set on the interview's version *and* state, so of
two concurrent moves only one can match; every other change is a compare-and-set on the
version. The facts the workflow's guards look at (the checklist, the letters sent, who
referred the interviewee) are read here too, in the interviews' own queries.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from functools import cache
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    Select,
    Table,
    Update,
    bindparam,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlmodel import Session

from app.contacts.schemas import Contact
from app.interviews.schemas import Interview, InterviewEvent, PrepChecklist
from app.kit.db import UTCDateTime
from app.kit.queries import (
    CALLER,
    caller_row,
    compare_and_delete,
    compare_and_set,
    decode_cursor,
    encode_cursor,
    get_owned,
    get_owned_row,
    keyset_rows,
    owned,
    owned_page_statement,
    owned_row_statement,
    owner_table,
    require_owned_ref,
)
from app.kit.unit_of_work import UnitOfWork
from app.letters.schemas import Letter
from app.referrals.schemas import Referral
from app.vocabulary import LetterStatus

_INTERVIEWS: Any = Interview.__table__  # type: ignore[attr-defined]
_CHECKLISTS: Any = PrepChecklist.__table__  # type: ignore[attr-defined]
_LETTERS: Any = Letter.__table__  # type: ignore[attr-defined]
_REFERRALS: Any = Referral.__table__  # type: ignore[attr-defined]
_CONTACTS: Any = Contact.__table__  # type: ignore[attr-defined]
_EVENTS: Any = InterviewEvent.__table__  # type: ignore[attr-defined]

# How a checklist column is named in the row read with its interview.
CHECKLIST_PREFIX = "checklist_"


def get_row(db: Session | Connection, owner_id: uuid.UUID, interview_id: uuid.UUID) -> Row[Any]:
    """The caller's interview as a row (a 404 if none; a 401 if the account is gone)."""
    return get_owned_row(db, Interview, interview_id, owner_id, what="interview")


@cache
def _with_checklist_statement() -> Select[Any]:
    checklists = _CHECKLISTS
    return (
        owned_row_statement(_INTERVIEWS)
        .outerjoin(checklists, checklists.c.interview_id == _INTERVIEWS.c.id)
        .add_columns(*(c.label(CHECKLIST_PREFIX + c.name) for c in checklists.c))
    )


def get_with_checklist(
    connection: Connection, owner_id: uuid.UUID, interview_id: uuid.UUID
) -> Row[Any]:
    """The caller's interview and its checklist (columns prefixed ``checklist_``), in one
    caller-checked statement: a 404 if none, a 401 if the account is gone."""
    return get_owned_row(
        connection,
        Interview,
        interview_id,
        owner_id,
        what="interview",
        statement=_with_checklist_statement(),
    )


# The facts a move's guards look at, besides the interview and its checklist, as rows of
# (fact, person, at): the latest sent letter of each guarded kind to each recipient, and
# (fact ``REFERRED_BY``, no time) everyone recorded as having referred the interviewee.
REFERRED_BY = "referred_by"


@cache
def _facts_statement() -> Select[Any]:
    letters, referrals = _LETTERS.c, _REFERRALS.c
    sent = (
        select(
            letters.kind.label("fact"),
            letters.recipient_id.label("person"),
            func.max(letters.sent_at).label("at"),
        )
        .where(
            letters.owner_id == bindparam("owner_id"),
            letters.interview_id == bindparam("interview_id"),
            letters.status == LetterStatus.SENT.value,
            letters.kind.in_(bindparam("kinds", expanding=True)),
        )
        .group_by(letters.kind, letters.recipient_id)
    )
    referred = select(
        literal(REFERRED_BY).label("fact"),
        referrals.referrer_id.label("person"),
        null().cast(UTCDateTime).label("at"),
    ).where(
        referrals.owner_id == bindparam("owner_id"),
        referrals.referred_id == bindparam("contact_id"),
    )
    return union_all(sent, referred)  # type: ignore[return-value]


def guard_facts(
    connection: Connection,
    owner_id: uuid.UUID,
    interview_id: uuid.UUID,
    contact_id: uuid.UUID,
    letter_kinds: Sequence[str],
) -> Sequence[Row[Any]]:
    """The letters sent for the interview and the interviewee's referrers, in one statement:
    rows of (``fact``, ``person``, ``at``), ``fact`` a letter kind or :data:`REFERRED_BY`."""
    params = {
        "owner_id": owner_id,
        "interview_id": interview_id,
        "contact_id": contact_id,
        "kinds": list(letter_kinds),
    }
    return connection.execute(_facts_statement(), params).all()


def move(
    connection: Connection,
    interview: Row[Any],
    values: dict[str, Any],
    *,
    referrers: Sequence[uuid.UUID],
    event: dict[str, Any],
    outbox: tuple[Table, dict[str, Any]],
    also: Sequence[Update] = (),
) -> bool:
    """Apply a move as one unit of work, committed: the interview's new state (a
    compare-and-set on its version *and* state, and on the interviewee's referrers being
    exactly those its guards looked at), the recorded move, its event, and ``also``.

    False, with nothing written, when any of that changed since it was read.
    """
    c, referrals = _INTERVIEWS.c, _REFERRALS.c
    same_referrers = ~(
        select(referrals.id)
        .where(
            referrals.owner_id == interview.owner_id,
            referrals.referred_id == interview.contact_id,
            referrals.referrer_id.not_in(list(referrers)),
        )
        .exists()
    ) & (
        select(func.count())
        .select_from(_REFERRALS)
        .where(
            referrals.owner_id == interview.owner_id,
            referrals.referred_id == interview.contact_id,
        )
        .scalar_subquery()
        == len(referrers)
    )
    guard = (
        _INTERVIEWS.update()
        .where(
            c.id == interview.id,
            c.version == interview.version,
            c.state == interview.state,
            same_referrers,
        )
        .values(**values)
        .returning(c.id)
    )
    writes = UnitOfWork(guard)
    writes.insert(_EVENTS, event)
    writes.insert(*outbox)
    for statement in also:
        writes.update(statement)
    return writes.commit(connection)


def current_version_and_state(connection: Connection, interview_id: uuid.UUID) -> Row[Any] | None:
    """The interview's version and state as the database now has them, if it still exists."""
    c = _INTERVIEWS.c
    return connection.execute(select(c.version, c.state).where(c.id == interview_id)).first()


@cache
def _create_checks_statement() -> Select[Any]:
    owner = owner_table(_INTERVIEWS)
    contacts, referrals, interviews = _CONTACTS.c, _REFERRALS.c, _INTERVIEWS.c
    contact = (
        select(contacts.id)
        .where(contacts.id == bindparam("contact_id"), contacts.owner_id == owner.c.id)
        .scalar_subquery()
    )
    referred = (
        select(referrals.referred_id)
        .where(referrals.id == bindparam("referral_id"), referrals.owner_id == owner.c.id)
        .scalar_subquery()
    )
    holder = (
        select(interviews.id)
        .where(
            interviews.owner_id == owner.c.id,
            interviews.source == bindparam("source"),
            interviews.external_id == bindparam("external_id"),
        )
        .limit(1)
        .scalar_subquery()
    )
    return select(
        owner.c.id.label(CALLER),
        contact.label("contact_id"),
        referred.label("referred_id"),
        holder.label("holder_id"),
    ).where(caller_row(owner, bindparam("owner_id")))


def create_checks(
    connection: Connection,
    owner_id: uuid.UUID,
    *,
    contact_id: uuid.UUID,
    referral_id: uuid.UUID | None,
    source: str | None,
    external_id: str | None,
) -> Row[Any] | None:
    """What a new interview's body points at, in one statement that also proves the caller's
    account exists (``None`` if not): ``contact_id`` if the caller has that contact,
    ``referred_id`` the person referred by the named referral (``None``: no such referral of
    theirs), ``holder_id`` an interview already using the external identity."""
    params = {
        "owner_id": owner_id,
        "contact_id": contact_id,
        "referral_id": referral_id,
        "source": source,
        "external_id": external_id,
    }
    return connection.execute(_create_checks_statement(), params).first()


def insert_new(
    connection: Connection,
    owner_id: uuid.UUID,
    interview: dict[str, Any],
    checklist: dict[str, Any],
    outbox: tuple[Table, dict[str, Any]],
) -> bool:
    """Insert an interview, its empty checklist and its event as one unit of work,
    committed; False, with nothing written, when the caller's account no longer exists."""
    writes = UnitOfWork.for_caller(_INTERVIEWS, owner_id)
    writes.insert(_INTERVIEWS, interview)
    writes.insert(_CHECKLISTS, checklist)
    writes.insert(*outbox)
    return writes.commit(connection)


# Each list filter as a condition on a bound parameter of the same name.
_LIST_FILTERS: dict[str, Callable[[Any], Any]] = {
    "state": lambda c: c.state == bindparam("state"),
    "contact_id": lambda c: c.contact_id == bindparam("contact_id"),
    "mode": lambda c: c.mode == bindparam("mode"),
    "scheduled_after": lambda c: c.scheduled_at >= bindparam("scheduled_after"),
    "scheduled_before": lambda c: c.scheduled_at < bindparam("scheduled_before"),
    "updated_since": lambda c: c.updated_at >= bindparam("updated_since"),
    "source": lambda c: c.source == bindparam("source"),
    "external_id": lambda c: c.external_id == bindparam("external_id"),
}


@cache
def _list_statement(filters: tuple[str, ...], after_cursor: bool) -> Select[Any]:
    conditions = [_LIST_FILTERS[name](_INTERVIEWS.c) for name in filters]
    return owned_page_statement(_INTERVIEWS, conditions, after_cursor=after_cursor)


def page(
    db: Session | Connection,
    owner_id: uuid.UUID,
    filters: Mapping[str, Any],
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], bool, str | None]:
    """One keyset page of the caller's interviews, newest first, as plain dicts.

    ``filters`` maps each list filter's name to its value; ``None`` filters nothing. One
    statement is prepared per combination of filters given, and kept.
    """
    params: dict[str, Any] = {"owner": owner_id}
    for name in _LIST_FILTERS:
        value = filters[name]
        if value is not None:
            params[name] = value.value if isinstance(value, Enum) else value
    statement = _list_statement(tuple(params)[1:], cursor is not None)
    return keyset_rows(db, statement, params, limit=limit, cursor=cursor)


class InterviewRepository:
    """The caller's interviews through the ORM: reads, compare-and-set writes and deletes;
    their checklists and recorded moves; and the rows an interview points at."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- the interview ----------------------------------------------------------------------

    def get(self, owner_id: uuid.UUID, interview_id: uuid.UUID) -> Interview:
        """The caller's interview, or a 404 ``interview_not_found``."""
        return get_owned(self.session, Interview, interview_id, owner_id, what="interview")

    def external_id_in_use(
        self,
        owner_id: uuid.UUID,
        source: str,
        external_id: str,
        *,
        exclude: uuid.UUID | None = None,
    ) -> bool:
        """Whether another of the caller's interviews (not ``exclude``) has this identity."""
        c = _INTERVIEWS.c
        statement = select(c.id).where(
            c.owner_id == owner_id, c.source == source, c.external_id == external_id
        )
        if exclude is not None:
            statement = statement.where(c.id != exclude)
        return self.session.execute(statement.limit(1)).first() is not None

    def compare_and_set(self, interview: Interview, **values: Any) -> None:
        """Write ``values`` if the interview is still at the version read (else ``LostRace``)."""
        compare_and_set(self.session, Interview, interview.id, interview.version, **values)

    def refresh(self, interview: Interview) -> None:
        """Read the interview's row again, as it now is."""
        self.session.refresh(interview)

    def has_letters(self, interview_id: uuid.UUID) -> bool:
        """Whether any letter refers to this interview."""
        c = _LETTERS.c
        statement = select(c.id).where(c.interview_id == interview_id).limit(1)
        return self.session.execute(statement).first() is not None

    def compare_and_delete(self, interview: Interview) -> None:
        """Delete the interview if it is still at the version read (else ``LostRace``); its
        checklist and events go with it (``ON DELETE CASCADE``)."""
        compare_and_delete(self.session, Interview, interview.id, interview.version)

    # -- its checklist ----------------------------------------------------------------------

    def checklist(self, interview_id: uuid.UUID) -> PrepChecklist | None:
        """The interview's preparation checklist (created with every interview)."""
        return self.session.get(PrepChecklist, interview_id)

    def add_checklist(self, checklist: PrepChecklist) -> None:
        """Stage a new or changed checklist; it is written when the caller commits."""
        self.session.add(checklist)

    # -- its recorded moves -----------------------------------------------------------------

    def events_page(
        self, owner_id: uuid.UUID, interview_id: uuid.UUID, *, limit: int, cursor: str | None
    ) -> tuple[Sequence[InterviewEvent], bool, str | None]:
        """One keyset page of the interview's recorded moves, oldest first."""
        col: Any = InterviewEvent
        statement = owned(InterviewEvent, owner_id).where(col.interview_id == interview_id)
        if cursor is not None:
            statement = statement.where(col.id > decode_cursor(cursor))
        rows = self.session.exec(statement.order_by(col.id.asc()).limit(limit + 1)).all()
        has_more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].id) if has_more and rows else None
        return rows, has_more, next_cursor

    # -- the rows an interview points at ----------------------------------------------------

    def require_referral(self, owner_id: uuid.UUID, referral_id: uuid.UUID) -> Referral:
        """The caller's referral a request body names as ``referral_id``, or a 422 on it."""
        return require_owned_ref(self.session, Referral, referral_id, owner_id, field="referral_id")

    def owner_time_zone(self, owner_id: uuid.UUID) -> str | None:
        """The zone the caller reads times in (None if the account is gone)."""
        accounts = owner_table(_INTERVIEWS)
        found: str | None = self.session.execute(
            select(accounts.c.time_zone).where(accounts.c.id == owner_id)
        ).scalar()
        return found

    def contact(self, contact_id: uuid.UUID) -> Contact | None:
        """A contact by id, unscoped: for one an owned interview or referral points at."""
        return self.session.get(Contact, contact_id)

    def referral(self, referral_id: uuid.UUID) -> Referral | None:
        """A referral by id, unscoped: for the one an owned interview points at."""
        return self.session.get(Referral, referral_id)
