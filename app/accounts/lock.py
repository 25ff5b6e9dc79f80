"""Bringing data in from files: contacts from CSV or vCard (and the account lock imports share).

An import runs as one transaction. It starts by taking the account's lock (see
:func:`lock_account`), so two imports of the same user never interleave, and on SQLite the
lookups it makes and the rows it writes belong to one write transaction.
"""

from __future__ import annotations

import uuid

from sqlmodel import Session

from app.accounts.repository import UserRepository


def lock_account(session: Session, owner_id: uuid.UUID) -> None:
    """Lock the user's account row until the caller's transaction ends.

    A no-op UPDATE: on PostgreSQL it takes the row lock (a second importer waits, then sees
    what the first one committed); on SQLite it opens the write transaction up front, so every
    read that follows sees the database as this transaction alone will change it.
    """
    UserRepository(session).lock(owner_id)
