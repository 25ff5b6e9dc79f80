"""Referrals: who gave the user the lead to whom.

A referral joins two of the caller's contacts, never one to itself, and a pair is recorded
once. Only its relationship, notes and date change afterwards; the pair itself is fixed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.kit.errors import Conflict, Unprocessable
from app.kit.queries import check_if_match, optimistic_write
from app.referrals.repository import ReferralRepository
from app.referrals.schemas import Referral, ReferralCreate, ReferralPublic, ReferralUpdate
from app.vocabulary import Relationship
from app.webhooks.outbox import emit


def get(session: Session, owner_id: uuid.UUID, referral_id: uuid.UUID) -> Referral:
    """The caller's referral, or a 404 ``referral_not_found``."""
    return ReferralRepository(session).get(owner_id, referral_id)


def list_(
    session: Session,
    owner_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None = None,
    referrer_id: uuid.UUID | None = None,
    referred_id: uuid.UUID | None = None,
    relationship: Relationship | None = None,
) -> tuple[Sequence[Referral], bool, str | None]:
    """One page of the caller's referrals, newest first, narrowed by the given filters."""
    return ReferralRepository(session).page(
        owner_id,
        limit=limit,
        cursor=cursor,
        referrer_id=referrer_id,
        referred_id=referred_id,
        relationship=relationship,
    )


def _duplicate(existing_id: uuid.UUID | None = None) -> Conflict:
    extra: dict[str, Any] = {"existing_id": str(existing_id)} if existing_id else {}
    return Conflict(
        "This referrer is already recorded as having referred you to this contact.",
        code="duplicate_referral",
        **extra,
    )


def create(session: Session, owner_id: uuid.UUID, data: ReferralCreate) -> Referral:
    """Record a referral between two of the caller's contacts."""
    if data.referrer_id == data.referred_id:
        raise Unprocessable(
            "A contact cannot refer you to themselves; referrer_id and referred_id must differ.",
            code="self_referral",
            errors=[
                {
                    "loc": ["body", "referred_id"],
                    "msg": "equals referrer_id",
                    "type": "self_referral",
                }
            ],
        )
    referrals = ReferralRepository(session)
    referrals.contact(owner_id, data.referrer_id, field="referrer_id")
    referrals.contact(owner_id, data.referred_id, field="referred_id")
    existing = referrals.find_pair(owner_id, data.referrer_id, data.referred_id)
    if existing is not None:
        raise _duplicate(existing.id)
    referral = Referral(
        owner_id=owner_id,
        referrer_id=data.referrer_id,
        referred_id=data.referred_id,
        relationship=data.relationship.value,
        notes=data.notes,
        referred_on=data.referred_on,
    )
    referrals.add(referral)
    emit(session, owner_id, "referral.created", ReferralPublic.model_validate(referral))
    try:
        session.commit()
    except IntegrityError as exc:  # the same pair was recorded concurrently
        session.rollback()
        raise _duplicate() from exc
    return referral


def update_(
    session: Session,
    owner_id: uuid.UUID,
    referral_id: uuid.UUID,
    data: ReferralUpdate,
    *,
    if_match: str | None = None,
) -> Referral:
    """Change a referral's relationship, notes or date."""
    values = data.model_dump(exclude_unset=True)
    if "relationship" in values:
        values["relationship"] = values["relationship"].value
    referrals = ReferralRepository(session)

    def attempt() -> Referral:
        referral = referrals.get(owner_id, referral_id)
        check_if_match(if_match, referral.version)
        if not values:
            return referral
        referrals.compare_and_set(referral, **values)
        session.commit()
        referrals.refresh(referral)
        return referral

    return optimistic_write(session, attempt, if_match=if_match, what="referral")


def _in_use() -> Conflict:
    return Conflict(
        "An interview came from this referral, so it cannot be deleted; "
        "remove the interview's referral_id first.",
        code="referral_in_use",
    )


def delete_(
    session: Session, owner_id: uuid.UUID, referral_id: uuid.UUID, *, if_match: str | None = None
) -> None:
    """Delete a referral no interview came from; one that is used is a 409 ``referral_in_use``."""
    referrals = ReferralRepository(session)

    def attempt() -> None:
        referral = referrals.get(owner_id, referral_id)
        check_if_match(if_match, referral.version)
        if referrals.in_use(owner_id, referral_id):
            raise _in_use()
        try:
            referrals.compare_and_delete(referral)
            session.commit()
        except IntegrityError as exc:  # an interview was tied to it concurrently
            session.rollback()
            raise _in_use() from exc

    optimistic_write(session, attempt, if_match=if_match, what="referral")


def link_interviews(session: Session, links: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> None:
    """Tie restored referrals to the interviews their leads were given at: ``(referral id,
    interview id)`` pairs, both already written in the session's transaction (an account
    import). Nothing is committed."""
    ReferralRepository(session).link_interviews(links)
