"""Every statement the referrals domain sends to the database.

Every read is scoped to the caller (another user's referral, or contact, is not found), and
every change to an existing referral is a compare-and-set on its version. The contacts a
referral joins and the interviews that came from it are read here too, in its own queries.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, exists, select, update
from sqlmodel import Session, col

from app.contacts.schemas import Contact
from app.interviews.schemas import Interview
from app.kit.queries import (
    compare_and_delete,
    compare_and_set,
    get_owned,
    keyset_page,
    owned,
    require_owned_ref,
)
from app.referrals.schemas import Referral
from app.vocabulary import Relationship


class ReferralRepository:
    """The caller's referrals: reads, inserts, compare-and-set writes and deletes."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, owner_id: uuid.UUID, referral_id: uuid.UUID) -> Referral:
        """The caller's referral, or a 404 ``referral_not_found``."""
        return get_owned(self.session, Referral, referral_id, owner_id, what="referral")

    def page(
        self,
        owner_id: uuid.UUID,
        *,
        limit: int,
        cursor: str | None,
        referrer_id: uuid.UUID | None,
        referred_id: uuid.UUID | None,
        relationship: Relationship | None,
    ) -> tuple[Sequence[Referral], bool, str | None]:
        """One keyset page of the caller's referrals, newest first; ``None`` filters nothing."""
        statement = owned(Referral, owner_id)
        if referrer_id is not None:
            statement = statement.where(col(Referral.referrer_id) == referrer_id)
        if referred_id is not None:
            statement = statement.where(col(Referral.referred_id) == referred_id)
        if relationship is not None:
            statement = statement.where(col(Referral.relationship) == relationship.value)
        return keyset_page(
            self.session, statement, col(Referral.id), owner_id=owner_id, limit=limit, cursor=cursor
        )

    def contact(self, owner_id: uuid.UUID, contact_id: uuid.UUID, *, field: str) -> Contact:
        """The caller's contact a request body names in ``field``, or a 422 on that field."""
        return require_owned_ref(self.session, Contact, contact_id, owner_id, field=field)

    def find_pair(
        self, owner_id: uuid.UUID, referrer_id: uuid.UUID, referred_id: uuid.UUID
    ) -> Referral | None:
        """The caller's referral from ``referrer_id`` to ``referred_id``, if recorded."""
        return self.session.exec(
            owned(Referral, owner_id)
            .where(col(Referral.referrer_id) == referrer_id)
            .where(col(Referral.referred_id) == referred_id)
        ).first()

    def add(self, referral: Referral) -> None:
        """Stage a new referral; it is inserted when the caller commits."""
        self.session.add(referral)

    def compare_and_set(self, referral: Referral, **values: object) -> None:
        """Write ``values`` if the referral is still at the version read (else ``LostRace``)."""
        compare_and_set(self.session, Referral, referral.id, referral.version, **values)

    def refresh(self, referral: Referral) -> None:
        """Read the referral's row again, as it now is."""
        self.session.refresh(referral)

    def in_use(self, owner_id: uuid.UUID, referral_id: uuid.UUID) -> bool:
        """Whether one of the caller's interviews came from this referral."""
        return bool(
            self.session.execute(
                select(
                    exists().where(
                        col(Interview.owner_id) == owner_id,
                        col(Interview.referral_id) == referral_id,
                    )
                )
            ).scalar_one()
        )

    def compare_and_delete(self, referral: Referral) -> None:
        """Delete the referral if it is still at the version read (else ``LostRace``)."""
        compare_and_delete(self.session, Referral, referral.id, referral.version)

    def link_interviews(self, links: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> None:
        """Set each ``(referral id, interview id)`` pair's ``interview_id``, as restored by an
        account import (no version bump: the rows were just written). Nothing is committed."""
        table: Any = Referral.__table__  # type: ignore[attr-defined]
        self.session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("referral"))
            .values(interview_id=bindparam("interview")),
            [{"referral": referral, "interview": interview} for referral, interview in links],
        )
