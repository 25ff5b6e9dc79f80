"""``last_contacted_at``: derived from sent letters, held interviews and the interactions that
reached the contact, never typed in."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Update
from sqlmodel import Session

from app.contacts.repository import ContactActivityRepository


def refresh_last_contacted(session: Session, contact_id: uuid.UUID) -> None:
    """Recompute a contact's ``last_contacted_at`` from its letters, interviews and
    interactions.

    Call it (inside the caller's transaction) whenever a letter is sent, an interview is held,
    an interaction is logged or changed, or any of them is removed, so the field always follows
    the facts.
    """
    activity = ContactActivityRepository(session)
    moments = activity.last_letter_and_interview(contact_id)
    latest = max((v for v in moments if v is not None), default=None)
    activity.set_last_contacted(contact_id, latest)


def held_interview_update(
    contact_id: uuid.UUID, interview_id: uuid.UUID, held_at: datetime
) -> Update:
    """The write bringing the contact's ``last_contacted_at`` up to date as an interview with
    them is held at ``held_at``, to run with the move itself (in one unit of work)."""
    return ContactActivityRepository.held_interview_statement(contact_id, interview_id, held_at)
