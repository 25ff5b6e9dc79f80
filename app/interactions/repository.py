"""Every statement the interactions domain sends to the database.

Reads are scoped to the caller: another user's interaction (or the contact, interview or
letter a body names) is not found. One interaction and a page of them are Core statements
prepared once that also prove the caller's account exists; changes are compare-and-set writes
on the version.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from enum import Enum
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Select, and_, bindparam, exists, or_, select
from sqlmodel import Session

from app.contacts.schemas import Contact
from app.interactions.schemas import Interaction
from app.interviews import workflow
from app.interviews.schemas import Interview
from app.kit.queries import (
    CALLER,
    caller_row,
    compare_and_delete,
    compare_and_set,
    get_owned,
    get_owned_row,
    keyset_rows,
    owned_page_statement,
    owner_table,
)
from app.letters.schemas import Letter
from app.referrals.schemas import Referral

_INTERACTIONS: Any = Interaction.__table__  # type: ignore[attr-defined]
_CONTACTS: Any = Contact.__table__  # type: ignore[attr-defined]
_INTERVIEWS: Any = Interview.__table__  # type: ignore[attr-defined]
_LETTERS: Any = Letter.__table__  # type: ignore[attr-defined]
_REFERRALS: Any = Referral.__table__  # type: ignore[attr-defined]


def answered(columns: Any) -> ColumnElement[bool]:
    """The workflow's definition of an interaction that reached the contact
    (``workflow.ANSWERS``), as a SQL condition on ``columns``: the interaction table's ``.c``,
    or an ORM alias of the interaction."""
    shapes = []
    for shape in workflow.ANSWERS:
        conditions = [
            getattr(columns, name) == value.value
            for name, value in vars(shape).items()
            if value is not None
        ]
        shapes.append(and_(*conditions))
    return or_(*shapes)


def get_row(db: Session | Connection, owner_id: uuid.UUID, interaction_id: uuid.UUID) -> Row[Any]:
    """The caller's interaction as a row (a 404 if none; a 401 if the account is gone)."""
    return get_owned_row(db, Interaction, interaction_id, owner_id, what="interaction")


@cache
def _references_statement() -> Select[Any]:
    owner = owner_table(_INTERACTIONS)
    contacts, interviews, letters, referrals = _CONTACTS.c, _INTERVIEWS.c, _LETTERS.c, _REFERRALS.c

    def scalar(column: Any, table: Any, key: str) -> Any:
        return (
            select(column)
            .where(table.c.id == bindparam(key), table.c.owner_id == owner.c.id)
            .scalar_subquery()
        )

    interviewee = scalar(interviews.contact_id, _INTERVIEWS, "interview_id")
    referred_interviewee = exists().where(
        referrals.owner_id == owner.c.id,
        referrals.referrer_id == bindparam("contact_id"),
        referrals.referred_id == interviewee,
    )
    return select(
        owner.c.id.label(CALLER),
        scalar(contacts.id, _CONTACTS, "contact_id").label("contact_id"),
        interviewee.label("interviewee_id"),
        scalar(interviews.state, _INTERVIEWS, "interview_id").label("interview_state"),
        referred_interviewee.label("referred_interviewee"),
        scalar(letters.id, _LETTERS, "letter_id").label("letter_id"),
        scalar(letters.recipient_id, _LETTERS, "letter_id").label("letter_recipient_id"),
        scalar(letters.status, _LETTERS, "letter_id").label("letter_status"),
        scalar(letters.interview_id, _LETTERS, "letter_id").label("letter_interview_id"),
    ).where(caller_row(owner, bindparam("owner_id")))


def references(
    db: Session | Connection,
    owner_id: uuid.UUID,
    *,
    contact_id: uuid.UUID,
    interview_id: uuid.UUID | None,
    letter_id: uuid.UUID | None,
) -> Row[Any] | None:
    """What a body names, in one statement that also proves the caller's account exists
    (``None`` if not). Each column is ``None`` when the caller has no such record:
    ``contact_id``; the interview's ``interviewee_id`` and ``interview_state``, and
    ``referred_interviewee`` (the contact referred the user to that interviewee); the letter's
    ``letter_id``, ``letter_recipient_id``, ``letter_status`` and ``letter_interview_id``."""
    connection = db if isinstance(db, Connection) else db.connection()
    params = {
        "owner_id": owner_id,
        "contact_id": contact_id,
        "interview_id": interview_id,
        "letter_id": letter_id,
    }
    return connection.execute(_references_statement(), params).first()


# Each list filter as a condition on a bound parameter of the same name.
_LIST_FILTERS: dict[str, Callable[[Any], Any]] = {
    "contact_id": lambda c: c.contact_id == bindparam("contact_id"),
    "interview_id": lambda c: c.interview_id == bindparam("interview_id"),
    "kind": lambda c: c.kind == bindparam("kind"),
    "occurred_after": lambda c: c.occurred_at >= bindparam("occurred_after"),
    "occurred_before": lambda c: c.occurred_at < bindparam("occurred_before"),
}


@cache
def _list_statement(filters: tuple[str, ...], after_cursor: bool) -> Select[Any]:
    conditions = [_LIST_FILTERS[name](_INTERACTIONS.c) for name in filters]
    return owned_page_statement(_INTERACTIONS, conditions, after_cursor=after_cursor)


def page(
    db: Session | Connection,
    owner_id: uuid.UUID,
    filters: Mapping[str, Any],
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], bool, str | None]:
    """One keyset page of the caller's interactions, newest logged first, as plain dicts;
    a ``None`` filter filters nothing. One statement is prepared per combination of filters."""
    params: dict[str, Any] = {"owner": owner_id}
    for name in _LIST_FILTERS:
        value = filters.get(name)
        if value is not None:
            params[name] = value.value if isinstance(value, Enum) else value
    statement = _list_statement(tuple(params)[1:], cursor is not None)
    return keyset_rows(db, statement, params, limit=limit, cursor=cursor)


class InteractionRepository:
    """The caller's interactions through the ORM: reads, inserts, compare-and-set writes and
    deletes."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, owner_id: uuid.UUID, interaction_id: uuid.UUID) -> Interaction:
        """The caller's interaction, or a 404 ``interaction_not_found``."""
        return get_owned(self.session, Interaction, interaction_id, owner_id, what="interaction")

    def add(self, interaction: Interaction) -> None:
        """Stage a new interaction; it is inserted when the caller commits."""
        self.session.add(interaction)

    def compare_and_set(self, interaction: Interaction, **values: Any) -> None:
        """Write ``values`` if the interaction is still at the version read (else
        ``LostRace``)."""
        compare_and_set(self.session, Interaction, interaction.id, interaction.version, **values)

    def refresh(self, interaction: Interaction) -> None:
        """Read the interaction's row again, as it now is."""
        self.session.refresh(interaction)

    def compare_and_delete(self, interaction: Interaction) -> None:
        """Delete the interaction if it is still at the version read (else ``LostRace``)."""
        compare_and_delete(self.session, Interaction, interaction.id, interaction.version)
