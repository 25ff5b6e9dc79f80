"""Every statement the contacts domain sends to the database.

Reads are scoped to the caller: another user's contact is not found. Single reads and list
pages start from the caller's account row (see :mod:`app.kit.queries`), so they also answer
whether the account still exists, in the same round trip. Changes to an existing contact are
compare-and-set writes on its version.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Table,
    exists,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Session, col

from app.contacts.schemas import Contact
from app.interviews.schemas import Interview
from app.kit.queries import (
    compare_and_delete,
    compare_and_set,
    get_owned,
    get_owned_row,
    insert_row,
    keyset_page,
    owned,
)
from app.kit.unit_of_work import UnitOfWork, caller_exists
from app.letters.schemas import Letter
from app.referrals.schemas import Referral

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
    writes = UnitOfWork(caller_exists(CONTACTS, owner_id))
    writes.insert(CONTACTS, values)
    writes.insert(*event)
    return writes.commit(connection)


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
        ``letter``)."""
        interview = exists().where(
            col(Interview.owner_id) == owner_id, col(Interview.contact_id) == contact_id
        )
        referral = exists().where(
            or_(col(Referral.referrer_id) == contact_id, col(Referral.referred_id) == contact_id)
        )
        letter = exists().where(col(Letter.recipient_id) == contact_id)
        found = self.session.execute(select(interview, referral, letter)).one()
        kinds = ("interview", "referral", "letter")
        return [name for name, hit in zip(kinds, found, strict=True) if hit]
