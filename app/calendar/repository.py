"""Every statement the calendar domain sends to the database.

The feed token lives on the user's account row (only its hash), so its repository writes and
reads ``user_account``; the feed reads the owner's interviews joined with their contacts, in
two bounded, indexed queries around a moment.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, update
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from app.accounts.schemas import UserAccount
from app.contacts.schemas import Contact
from app.interviews.schemas import Interview
from app.kit.db import utcnow
from app.vocabulary import InterviewState

Interviews: Any = Interview
Contacts: Any = Contact


class CalendarTokenRepository:
    """The hash of each user's feed token, on their account row."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def set_hash(self, user_id: uuid.UUID, token_hash: str | None) -> None:
        """Store the hash of the user's new token, or none to turn the feed off."""
        self.session.execute(
            update(UserAccount)
            .where(col(UserAccount.id) == user_id)
            .values(calendar_token_hash=token_hash, updated_at=utcnow())
        )

    def user_with_hash(self, token_hash: str) -> UserAccount | None:
        """The user whose current feed token has this hash, if any."""
        return self.session.exec(
            select(UserAccount).where(UserAccount.calendar_token_hash == token_hash)
        ).first()


class CalendarFeedRepository:
    """What the feed shows of the owner's interviews: the scheduled ones that are not
    cancelled, each with its contact's name, title and organization."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _scheduled(self, owner_id: uuid.UUID) -> Select[Any]:
        return (
            core_select(
                Interviews.id,
                Interviews.scheduled_at,
                Interviews.duration_minutes,
                Interviews.location,
                Interviews.mode,
                Interviews.state,
                Interviews.career_field,
                Interviews.organization,
                Interviews.notes,
                Interviews.version,
                Interviews.updated_at,
                Contacts.full_name.label("contact_name"),
                Contacts.title.label("contact_title"),
                Contacts.organization.label("contact_organization"),
                Contacts.updated_at.label("contact_updated_at"),
            )
            .join(Contacts, Contacts.id == Interviews.contact_id)
            .where(
                Interviews.owner_id == owner_id,
                Interviews.state != InterviewState.CANCELLED.value,
            )
        )

    def upcoming(
        self, owner_id: uuid.UUID, *, start: datetime, end: datetime, limit: int
    ) -> Sequence[Row[Any]]:
        """Interviews scheduled from ``start`` to before ``end``, soonest first."""
        return self.session.execute(
            self._scheduled(owner_id)
            .where(Interviews.scheduled_at >= start, Interviews.scheduled_at < end)
            .order_by(Interviews.scheduled_at, Interviews.id)
            .limit(limit)
        ).all()

    def recent(
        self, owner_id: uuid.UUID, *, start: datetime, end: datetime, limit: int
    ) -> Sequence[Row[Any]]:
        """Interviews scheduled from ``start`` to before ``end``, latest first."""
        return self.session.execute(
            self._scheduled(owner_id)
            .where(Interviews.scheduled_at >= start, Interviews.scheduled_at < end)
            .order_by(Interviews.scheduled_at.desc(), Interviews.id.desc())
            .limit(limit)
        ).all()

    def contacts(self, owner_id: uuid.UUID, ids: Collection[uuid.UUID]) -> Sequence[Row[Any]]:
        """The owner's contacts among ``ids`` (the agenda's, at most a few hundred): name,
        title, organization and when they last changed."""
        if not ids:
            return []
        return self.session.execute(
            core_select(
                Contacts.id,
                Contacts.full_name,
                Contacts.title,
                Contacts.organization,
                Contacts.updated_at,
            ).where(Contacts.owner_id == owner_id, Contacts.id.in_(list(ids)))
        ).all()

    def interviews(self, owner_id: uuid.UUID, ids: Collection[uuid.UUID]) -> Sequence[Row[Any]]:
        """The owner's interviews among ``ids`` (the agenda's), each with its interviewee's
        name, and when either last changed."""
        if not ids:
            return []
        return self.session.execute(
            core_select(
                Interviews.id,
                Interviews.scheduled_at,
                Interviews.organization,
                Interviews.updated_at,
                Contacts.full_name.label("contact_name"),
                Contacts.organization.label("contact_organization"),
                Contacts.updated_at.label("contact_updated_at"),
            )
            .join(Contacts, Contacts.id == Interviews.contact_id)
            .where(Interviews.owner_id == owner_id, Interviews.id.in_(list(ids)))
        ).all()

    def account_changed_at(self, owner_id: uuid.UUID) -> datetime | None:
        """When the owner's account last changed (their time zone, the feed's token)."""
        changed: datetime | None = self.session.execute(
            core_select(col(UserAccount.updated_at)).where(col(UserAccount.id) == owner_id)
        ).scalar()
        return changed
