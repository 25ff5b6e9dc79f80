"""``last_contacted_at``: derived from sent letters and held interviews, never typed in."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, type_coerce, update
from sqlmodel import Session

from app.contacts.schemas import Contact
from app.interviews.schemas import Interview
from app.kit.db import UTCDateTime
from app.letters.schemas import Letter


def refresh_last_contacted(session: Session, contact_id: uuid.UUID) -> None:
    """Recompute a contact's ``last_contacted_at`` from its letters and interviews.

    Call it (inside the caller's transaction) whenever a letter is sent, an interview is held,
    or either is removed, so the field always follows the facts.
    """
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
    letter_at, held_at = session.execute(
        select(type_coerce(last_letter, UTCDateTime), type_coerce(last_held, UTCDateTime))
    ).one()
    latest = max((v for v in (letter_at, held_at) if v is not None), default=None)
    session.execute(
        update(Contact)
        .where(Contact.id == contact_id)  # type: ignore[arg-type]
        .values(last_contacted_at=latest)
    )
