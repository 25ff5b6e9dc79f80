"""Contacts: the people a user talks to, or who gave the user a lead.

Every function takes the caller's ``owner_id`` and sees only that user's rows. Writes bump
``version`` with a compare-and-set, so two writers cannot silently overwrite each other when
the client sent ``If-Match``; without it the last writer wins, as HTTP promises.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.contacts import repository
from app.contacts.repository import ContactRepository
from app.contacts.schemas import Contact, ContactCreate, ContactPublic, ContactUpdate, ContactUpsert
from app.kit.errors import Conflict, PreconditionFailed, Unprocessable, caller_gone
from app.kit.queries import WRITE_ATTEMPTS, check_if_match, new_row, optimistic_write
from app.webhooks.outbox import emit, event_row


def get(session: Session, owner_id: uuid.UUID, contact_id: uuid.UUID) -> Contact:
    """The caller's contact, or a 404 ``contact_not_found``."""
    return ContactRepository(session).get(owner_id, contact_id)


def get_row(session: Session, owner_id: uuid.UUID, contact_id: uuid.UUID) -> Row[Any]:
    """The caller's contact as a row: a read of one round trip that also checks the caller."""
    return ContactRepository(session).get_row(owner_id, contact_id)


def list_(
    session: Session,
    /,
    owner_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None = None,
    **filters: Any,
) -> tuple[Sequence[Contact], bool, str | None]:
    """One page of the caller's contacts, newest first, narrowed by the given filters."""
    return ContactRepository(session).page(owner_id, limit=limit, cursor=cursor, **filters)


def _external_id_taken(existing_id: uuid.UUID | None = None) -> Conflict:
    extra: dict[str, Any] = {"existing_id": str(existing_id)} if existing_id else {}
    return Conflict(
        "You already have a contact with this source and external_id.",
        code="external_id_taken",
        **extra,
    )


def create(
    connection: Connection, owner_id: uuid.UUID, data: ContactCreate
) -> tuple[ContactPublic, int]:
    """Create a contact; an external identity already used is a 409 ``external_id_taken``.

    One unit of work on the request's connection: the contact and its ``contact.created``
    event, written only while the caller's account exists (a 401 otherwise). Returns the
    contact as its owner sees it, and its version.
    """
    if data.source is not None and data.external_id is not None:
        taken = repository.holder_id(connection, owner_id, data.source, data.external_id)
        if taken is not None:
            raise _external_id_taken(taken)
    row = new_row(Contact, owner_id=owner_id, **data.model_dump())
    contact = ContactPublic.model_validate(row)
    event = event_row(owner_id, "contact.created", contact)
    try:
        written = repository.insert_with_event(connection, owner_id, row, event)
    except IntegrityError as exc:  # a concurrent create took the external id first
        raise _external_id_taken() from exc
    if not written:
        raise caller_gone()
    return contact, row["version"]


def _check_external_identity(session: Session, contact: Contact, values: dict[str, Any]) -> None:
    """After a change, ``source`` and ``external_id`` are both set or both empty, and unique."""
    source: str | None = values.get("source", contact.source)
    external_id: str | None = values.get("external_id", contact.external_id)
    if (source is None) != (external_id is None):
        missing = "source" if source is None else "external_id"
        raise Unprocessable(
            "external_id and source must be set together, or both cleared.",
            code="validation_error",
            errors=[
                {
                    "loc": ["body", missing],
                    "msg": "external_id and source go together",
                    "type": "value_error",
                }
            ],
        )
    if source is None or external_id is None:
        return
    if (source, external_id) == (contact.source, contact.external_id):
        return
    holder = ContactRepository(session).holder_of(contact.owner_id, source, external_id)
    if holder is not None and holder.id != contact.id:
        raise _external_id_taken(holder.id)


def _write(
    session: Session,
    owner_id: uuid.UUID,
    contact_id: uuid.UUID,
    values: dict[str, Any],
    if_match: str | None,
) -> Contact:
    """Apply ``values`` to a contact under optimistic concurrency; one commit."""

    contacts = ContactRepository(session)

    def attempt() -> Contact:
        contact = contacts.get(owner_id, contact_id)
        check_if_match(if_match, contact.version)
        if not values:
            return contact
        _check_external_identity(session, contact, values)
        try:
            # The new values are read back, for the event committed with them.
            contacts.compare_and_set(contact, **values)
            emit(session, owner_id, "contact.updated", ContactPublic.model_validate(contact))
            session.commit()
        except IntegrityError as exc:  # a concurrent write took the external id first
            session.rollback()
            raise _external_id_taken() from exc
        contacts.reload(contact)
        return contact

    return optimistic_write(session, attempt, if_match=if_match, what="contact")


def update_(
    session: Session,
    owner_id: uuid.UUID,
    contact_id: uuid.UUID,
    data: ContactUpdate,
    *,
    if_match: str | None = None,
) -> Contact:
    """Change the fields sent; ``null`` clears an optional field."""
    return _write(session, owner_id, contact_id, data.model_dump(exclude_unset=True), if_match)


def upsert_by_external_id(
    session: Session,
    owner_id: uuid.UUID,
    source: str,
    external_id: str,
    data: ContactUpsert,
    *,
    if_match: str | None = None,
) -> tuple[Contact, bool]:
    """Create or update the contact another platform knows as ``source``/``external_id``.

    On update only the fields in the body are written, so what the user added locally
    (notes, tags, archived …) survives a sync that does not mention it. Returns the contact
    and whether it was created.
    """
    for field, given, expected in (
        ("source", data.source, source),
        ("external_id", data.external_id, external_id),
    ):
        if given is not None and given != expected:
            raise Unprocessable(
                f"The body's {field} differs from the one in the path.",
                code="external_identity_mismatch",
                errors=[
                    {"loc": ["body", field], "msg": "differs from the path", "type": "mismatch"}
                ],
            )
    contacts = ContactRepository(session)
    for _ in range(WRITE_ATTEMPTS):
        holder = contacts.holder_of(owner_id, source, external_id)
        if holder is not None:
            values = data.model_dump(exclude_unset=True, exclude={"source", "external_id"})
            return _write(session, owner_id, holder.id, values, if_match), False
        if if_match is not None:
            raise PreconditionFailed(
                "If-Match was given but no contact has this source and external_id.",
                code="etag_mismatch",
            )
        fields = data.model_dump(exclude={"source", "external_id"})
        contact = Contact(owner_id=owner_id, source=source, external_id=external_id, **fields)
        contacts.add(contact)
        emit(session, owner_id, "contact.created", ContactPublic.model_validate(contact))
        try:
            session.commit()
        except IntegrityError:  # created concurrently: go round again and update it
            session.rollback()
            continue
        return contact, True
    raise Conflict(
        "The contact was changed concurrently; retry the request.", code="concurrent_update"
    )


def references_to(session: Session, owner_id: uuid.UUID, contact_id: uuid.UUID) -> list[str]:
    """Which kinds of record point at this contact (``interview``, ``referral``, ``letter``)."""
    return ContactRepository(session).references_to(owner_id, contact_id)


def _in_use(contact_id: uuid.UUID, referenced_by: list[str]) -> Conflict:
    return Conflict(
        "Other records refer to this contact, so it cannot be deleted. Archive it instead: "
        f'PATCH /api/v1/contacts/{contact_id} with {{"archived": true}}.',
        code="contact_in_use",
        referenced_by=referenced_by,
    )


def delete_(
    session: Session, owner_id: uuid.UUID, contact_id: uuid.UUID, *, if_match: str | None = None
) -> None:
    """Delete a contact nothing refers to; one that is referred to is a 409 ``contact_in_use``."""

    contacts = ContactRepository(session)

    def attempt() -> None:
        contact = contacts.get(owner_id, contact_id)
        check_if_match(if_match, contact.version)
        referenced_by = contacts.references_to(owner_id, contact_id)
        if referenced_by:
            raise _in_use(contact_id, referenced_by)
        try:
            contacts.compare_and_delete(contact)
            session.commit()
        except IntegrityError as exc:  # a reference was added concurrently
            session.rollback()
            raise _in_use(contact_id, contacts.references_to(owner_id, contact_id)) from exc

    optimistic_write(session, attempt, if_match=if_match, what="contact")
