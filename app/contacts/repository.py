"""Every statement the contacts domain sends to the database.

Reads are scoped to the caller: another user's contact is not found. Single reads and list
pages start from the caller's account row (see :mod:`app.kit.queries`), so they also answer
whether the account still exists, in the same round trip. Changes to an existing contact are
compare-and-set writes on its version.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    Row,
    RowMapping,
    Select,
    String,
    Table,
    Update,
    bindparam,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Session, col

from app.contacts.schemas import Contact
from app.interactions.repository import answered
from app.interactions.schemas import Interaction
from app.interviews.schemas import Interview
from app.kit.db import UTCDateTime
from app.kit.queries import (
    CALLER_SESSION,
    compare_and_delete,
    compare_and_set,
    get_owned,
    get_owned_row,
    insert_row,
    keyset_page,
    keyset_rows,
    owned,
    owned_page_statement,
)
from app.kit.unit_of_work import UnitOfWork
from app.letters.schemas import Letter
from app.referrals.schemas import Referral
from app.webhooks.schemas import OutboxEvent

# The columns a free-text search looks in.
_SEARCHED = (
    col(Contact.full_name),
    col(Contact.email),
    col(Contact.organization),
    col(Contact.phone),
)


def has_tag(dialect: str, tag: str) -> ColumnElement[bool]:
    """``tag`` is one of the contact's tags, tested in SQL on either database.

    PostgreSQL stores tags as JSONB and answers with containment (``@>``); SQLite walks the
    JSON array with ``json_each``.
    """
    if dialect == "postgresql":
        return type_coerce(Contact.tags, JSONB).contains([tag])
    each = func.json_each(Contact.tags).table_valued("value")
    return exists().select_from(each).where(each.c.value == tag)


CONTACTS: Table = Contact.__table__  # type: ignore[attr-defined]


def holder_id(
    connection: Connection, owner_id: uuid.UUID, source: str, external_id: str
) -> uuid.UUID | None:
    """The id of the caller's contact known by this external identity, if any."""
    c = CONTACTS.c
    return connection.execute(
        select(c.id).where(c.owner_id == owner_id, c.source == source, c.external_id == external_id)
    ).scalar_one_or_none()


def insert_with_event(
    connection: Connection,
    owner_id: uuid.UUID,
    values: dict[str, Any],
    event: tuple[Table, dict[str, Any]],
) -> bool:
    """Insert a contact and its outbox event as one unit of work, committed.

    False, with nothing written, when the caller's account no longer exists.
    """
    writes = UnitOfWork.for_caller(CONTACTS, owner_id)
    writes.insert(CONTACTS, values)
    writes.insert(*event)
    return writes.commit(connection)


@cache
def _export_statement(include_archived: bool, after_cursor: bool) -> Select[Any]:
    conditions = [] if include_archived else [CONTACTS.c.archived.is_(False)]
    return owned_page_statement(CONTACTS, conditions, after_cursor=after_cursor)


def export_page(
    db: Session | Connection,
    owner_id: uuid.UUID,
    *,
    include_archived: bool,
    cursor: str | None,
    size: int,
    caller_session: uuid.UUID | None,
) -> tuple[list[dict[str, Any]], bool, str | None]:
    """One page of the caller's contacts for an export, newest first, as dicts; archived
    ones only if ``include_archived``. Whether there are more, and the cursor to them.

    One prepared statement from the caller's account row, like a list page: no row is a 401.
    The caller's session is passed, not read from the request's context: an export is read
    in worker threads while its answer is streamed.
    """
    return keyset_rows(
        db,
        _export_statement(include_archived, cursor is not None),
        {"owner": owner_id, CALLER_SESSION: caller_session},
        limit=size,
        cursor=cursor,
    )


class ContactRepository:
    """The caller's contacts: reads, inserts, compare-and-set writes and deletes."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, owner_id: uuid.UUID, contact_id: uuid.UUID) -> Contact:
        """The caller's contact, or a 404 ``contact_not_found``."""
        return get_owned(self.session, Contact, contact_id, owner_id, what="contact")

    def get_row(self, owner_id: uuid.UUID, contact_id: uuid.UUID) -> Row[Any]:
        """The caller's contact as a row (a 404 if none; a 401 if the account is gone)."""
        return get_owned_row(self.session, Contact, contact_id, owner_id, what="contact")

    def page(
        self,
        owner_id: uuid.UUID,
        *,
        limit: int,
        cursor: str | None,
        q: str | None = None,
        tag: str | None = None,
        career_field: str | None = None,
        archived: bool | None = None,
        source: str | None = None,
        external_id: str | None = None,
    ) -> tuple[Sequence[Contact], bool, str | None]:
        """One page of the caller's contacts, newest first; ``None`` filters nothing."""
        statement = owned(Contact, owner_id)
        if q:
            statement = statement.where(
                or_(*(column.icontains(q, autoescape=True) for column in _SEARCHED))
            )
        if tag is not None:
            statement = statement.where(has_tag(self.session.get_bind().dialect.name, tag))
        if career_field is not None:
            statement = statement.where(func.lower(Contact.career_field) == career_field.lower())
        if archived is not None:
            statement = statement.where(col(Contact.archived).is_(archived))
        if source is not None:
            statement = statement.where(col(Contact.source) == source)
        if external_id is not None:
            statement = statement.where(col(Contact.external_id) == external_id)
        return keyset_page(
            self.session,
            statement,
            col(Contact.id),
            limit=limit,
            cursor=cursor,
            owner_id=owner_id,
        )

    def holder_of(self, owner_id: uuid.UUID, source: str, external_id: str) -> Contact | None:
        """The caller's contact known by this external identity, if any."""
        return self.session.exec(
            owned(Contact, owner_id)
            .where(col(Contact.source) == source)
            .where(col(Contact.external_id) == external_id)
        ).first()

    def insert(self, owner_id: uuid.UUID, **values: Any) -> dict[str, Any]:
        """Insert a contact in the session's transaction; its values, defaults included."""
        return insert_row(self.session, Contact, owner_id=owner_id, **values)

    def add(self, contact: Contact) -> None:
        """Stage a new contact; it is inserted when the caller commits."""
        self.session.add(contact)

    def compare_and_set(self, contact: Contact, **values: Any) -> None:
        """Write ``values`` if the contact is still at the version read (else ``LostRace``),
        and load what was written back into ``contact``."""
        compare_and_set(self.session, Contact, contact.id, contact.version, **values)
        self.session.refresh(contact)

    def reload(self, contact: Contact) -> None:
        """Read the contact's committed values again."""
        self.session.refresh(contact)

    def compare_and_delete(self, contact: Contact) -> None:
        """Delete the contact if it is still at the version read (else ``LostRace``)."""
        compare_and_delete(self.session, Contact, contact.id, contact.version)

    def references_to(self, owner_id: uuid.UUID, contact_id: uuid.UUID) -> list[str]:
        """Which kinds of record point at this contact (``interview``, ``referral``,
        ``letter``, ``interaction``)."""
        interview = exists().where(
            col(Interview.owner_id) == owner_id, col(Interview.contact_id) == contact_id
        )
        referral = exists().where(
            or_(col(Referral.referrer_id) == contact_id, col(Referral.referred_id) == contact_id)
        )
        letter = exists().where(col(Letter.recipient_id) == contact_id)
        interaction = exists().where(col(Interaction.contact_id) == contact_id)
        found = self.session.execute(select(interview, referral, letter, interaction)).one()
        kinds = ("interview", "referral", "letter", "interaction")
        return [name for name, hit in zip(kinds, found, strict=True) if hit]


_INTERACTIONS: Any = Interaction.__table__  # type: ignore[attr-defined]


def _answered_at(contact_id: uuid.UUID) -> Select[Any]:
    """When the contact answered: the interactions with them that reached them (the
    workflow's definition), as a column ``at``."""
    c = _INTERACTIONS.c
    return select(c.occurred_at.label("at")).where(c.contact_id == contact_id, answered(c))


class ContactActivityRepository:
    """When the user was last in touch with a contact: read from the letters sent to them, the
    interviews held with them and the interactions that reached them, written on the contact.
    By the contact's id, for a contact the caller has already read as theirs."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def last_letter_and_interview(
        self, contact_id: uuid.UUID
    ) -> tuple[datetime | None, datetime | None, datetime | None]:
        """When the latest letter to the contact was sent, when the latest interview with them
        was held, and when they last answered an interaction (``None`` for never), in one
        statement."""
        last_letter = (
            select(func.max(Letter.sent_at))
            .where(Letter.recipient_id == contact_id)  # type: ignore[arg-type]
            .where(Letter.status == "sent")  # type: ignore[arg-type]
            .scalar_subquery()
        )
        last_held = (
            select(func.max(Interview.held_at))
            .where(Interview.contact_id == contact_id)  # type: ignore[arg-type]
            .scalar_subquery()
        )
        answers = _answered_at(contact_id).subquery()
        last_answer = select(func.max(answers.c.at)).scalar_subquery()
        letter_at, held_at, answer_at = self.session.execute(
            select(
                type_coerce(last_letter, UTCDateTime),
                type_coerce(last_held, UTCDateTime),
                type_coerce(last_answer, UTCDateTime),
            )
        ).one()
        return letter_at, held_at, answer_at

    @staticmethod
    def held_interview_statement(
        contact_id: uuid.UUID, interview_id: uuid.UUID, held_at: datetime
    ) -> Update:
        """The write that brings ``last_contacted_at`` up to date once the interview is held at
        ``held_at``: it reads the other interviews, the letters and the interactions, never this
        interview's own row, so it can run in the same statement as the move that sets it."""
        times = union_all(
            select(col(Letter.sent_at).label("at")).where(
                col(Letter.recipient_id) == contact_id, col(Letter.status) == "sent"
            ),
            select(col(Interview.held_at).label("at")).where(
                col(Interview.contact_id) == contact_id, col(Interview.id) != interview_id
            ),
            _answered_at(contact_id),
            select(literal(held_at, UTCDateTime).label("at")),
        ).subquery()
        latest = select(func.max(times.c.at)).scalar_subquery()
        return update(Contact).where(col(Contact.id) == contact_id).values(last_contacted_at=latest)

    def set_last_contacted(self, contact_id: uuid.UUID, at: datetime | None) -> None:
        """Write the contact's ``last_contacted_at`` (its version stays: a derived field)."""
        self.session.execute(
            update(Contact)
            .where(Contact.id == contact_id)  # type: ignore[arg-type]
            .values(last_contacted_at=at)
        )


# Rows looked up with one ``IN`` list on SQLite.
_LOOKUP_BATCH = 500
_OUTBOX: Table = OutboxEvent.__table__  # type: ignore[attr-defined]


class ContactImportRepository:
    """What an import of contacts reads and writes, in bulk: lookups by external identity and
    by email, then per chunk one multi-row INSERT, one multi-row compare-and-set UPDATE and
    one multi-row INSERT of events into the webhook outbox.

    Tables, not entities: Core executemany skips the ORM's per-row bookkeeping.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        dialect = session.get_bind().dialect
        self._postgresql = dialect.name == "postgresql"
        self._sane_rowcount = bool(dialect.supports_sane_multi_rowcount)

    def matching(
        self,
        owner_id: uuid.UUID,
        external_ids: dict[str, list[str]],
        emails: list[str],
        names: list[str] = [],  # noqa: B006 - never mutated
    ) -> Iterator[RowMapping]:
        """The caller's contacts an import's rows could match: those with one of the external
        ids of each source, those whose lower-cased email is one of ``emails``, and those
        without an email whose full name is one of ``names``.

        Each statement's rows come in id order; a contact may come more than once.
        """
        table = CONTACTS
        owned = select(table).where(table.c.owner_id == owner_id)
        queries = [
            query
            for source, ids in external_ids.items()
            for query in self._matching(
                owned.where(table.c.source == source), table.c.external_id, ids
            )
        ]
        queries += self._matching(owned, func.lower(table.c.email), emails)
        queries += self._matching(owned.where(table.c.email.is_(None)), table.c.full_name, names)
        for query in queries:
            yield from self.session.execute(query.order_by(table.c.id)).mappings()

    def _matching(self, query: Select[Any], key: Any, values: list[str]) -> list[Select[Any]]:
        """``query`` narrowed to rows whose ``key`` is one of ``values``, in as few statements
        as suit the database.

        PostgreSQL gets one statement joining ``unnest(:values)``: a plain ``IN (...)`` list
        is a prepared statement after a few runs, and its generic plan compares every row with
        every value (hundreds of times slower than the hash join). SQLite gets ``IN`` lists of
        ``_LOOKUP_BATCH`` values, which it looks up through a temporary index.
        """
        if not values:
            return []
        if self._postgresql:
            wanted = (
                func.unnest(bindparam("keys", values, type_=ARRAY(String)))
                .table_valued("key")
                .render_derived(name="wanted")
            )
            return [query.join(wanted, key == wanted.c.key)]
        return [
            query.where(key.in_(values[i : i + _LOOKUP_BATCH]))
            for i in range(0, len(values), _LOOKUP_BATCH)
        ]

    def insert_contacts(self, contacts: list[dict[str, Any]]) -> None:
        """Insert new contacts (every column given), in one multi-row INSERT."""
        self.session.execute(insert(CONTACTS), contacts)

    def update_contacts(
        self, contacts: list[dict[str, Any]], fields: Sequence[str], now: datetime
    ) -> int | None:
        """Write ``fields`` of each contact, matched by id and the version it was read at,
        with the next version and ``updated_at = now``: one Core executemany.

        How many contacts were written, for a compare-and-set to check; ``None`` when the
        driver cannot count the rows an executemany matched.
        """
        params = [
            {
                "b_id": contact["id"],
                "b_version": contact["version"],
                **{f"b_{name}": contact[name] for name in fields},
            }
            for contact in contacts
        ]
        table = CONTACTS
        statement = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .where(table.c.version == bindparam("b_version"))
            .values(
                version=table.c.version + 1,
                updated_at=now,
                **{name: bindparam(f"b_{name}") for name in fields},
            )
        )
        result = self.session.execute(statement, params)
        if not self._sane_rowcount:
            return None
        return result.rowcount if isinstance(result, CursorResult) else -1

    def insert_events(self, events: list[dict[str, Any]]) -> None:
        """Insert outbox rows (every column given), in one multi-row INSERT."""
        self.session.execute(insert(_OUTBOX), events)
