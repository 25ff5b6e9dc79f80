"""Interactions: the calls, voicemails, meetings, messages and replies outside letters.

What an interaction means for the rest of the process is the workflow's to say
(:mod:`app.interviews.workflow`: which outcomes fit which kind, which interactions reached the
contact, what a refusal suggests). This module checks what a body names, writes the
interaction with its webhook event, and keeps the contact's ``last_contacted_at`` derived from
the facts, interactions included. The agenda reads the interactions on its own.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlmodel import Session

from app.contacts.activity import refresh_last_contacted
from app.interactions import repository
from app.interactions.repository import InteractionRepository
from app.interactions.schemas import (
    Interaction,
    InteractionCreate,
    InteractionLogged,
    InteractionPublic,
    InteractionUpdate,
    SuggestedTransition,
)
from app.interviews import workflow
from app.kit.db import utcnow
from app.kit.errors import Unprocessable, caller_gone
from app.kit.queries import check_if_match, not_referenced, optimistic_write
from app.vocabulary import Direction, InteractionKind, InterviewState, LetterStatus, Outcome
from app.webhooks.outbox import emit


def get_row(session: Session, owner_id: uuid.UUID, interaction_id: uuid.UUID) -> Row[Any]:
    """The caller's interaction as a row, or a 404 ``interaction_not_found``."""
    return repository.get_row(session, owner_id, interaction_id)


def list_(
    session: Session,
    owner_id: uuid.UUID,
    filters: dict[str, Any],
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], bool, str | None]:
    """One page of the caller's interactions, newest logged first, as rows."""
    return repository.page(session, owner_id, filters, limit=limit, cursor=cursor)


def _invalid(field: str, code: str, detail: str, msg: str) -> Unprocessable:
    return Unprocessable(
        detail, code=code, errors=[{"loc": ["body", field], "msg": msg, "type": code}]
    )


def _check_shape(
    kind: InteractionKind,
    direction: Direction,
    outcome: Outcome | None,
    letter_id: uuid.UUID | None,
    occurred_at: datetime,
    now: datetime,
) -> None:
    """The interaction makes sense on its own: its outcome fits its kind, a letter is named
    only by an inbound reply, and it is not in the future."""
    if not workflow.outcome_fits(kind, outcome):
        fits = ", ".join(sorted(o.value for o in workflow.OUTCOMES[kind]))
        raise _invalid(
            "outcome",
            "outcome_not_for_kind",
            f"A {kind.value} cannot have the outcome {outcome}; a {kind.value} may be: {fits}.",
            f"not an outcome of a {kind.value}",
        )
    if letter_id is not None and (kind, direction) != (InteractionKind.REPLY, Direction.INBOUND):
        raise _invalid(
            "letter_id",
            "letter_not_for_kind",
            "Only an inbound reply answers a letter; leave letter_id out for anything else.",
            "only an inbound reply answers a letter",
        )
    if occurred_at > now:
        raise _invalid(
            "occurred_at",
            "occurred_at_in_future",
            "An interaction is logged once it happened; occurred_at is in the future.",
            "in the future",
        )


def _check_references(
    session: Session,
    owner_id: uuid.UUID,
    contact_id: uuid.UUID,
    interview_id: uuid.UUID | None,
    letter_id: uuid.UUID | None,
) -> InterviewState | None:
    """Everything the interaction names is the caller's, and fits together: the interview is
    with the contact (or with someone the contact referred the user to), the letter was sent to
    the contact (and about the same interview). Returns the interview's state, if one is named.
    """
    found = repository.references(
        session, owner_id, contact_id=contact_id, interview_id=interview_id, letter_id=letter_id
    )
    if found is None:
        raise caller_gone()
    if found.contact_id is None:
        raise not_referenced("contact_id")
    state = None
    if interview_id is not None:
        if found.interviewee_id is None:
            raise not_referenced("interview_id")
        if found.interviewee_id != contact_id and not found.referred_interviewee:
            raise _invalid(
                "interview_id",
                "interview_contact_mismatch",
                "The interview is with someone else; an interaction about an interview is with "
                "its interviewee, or with a referrer who gave you the lead.",
                "not an interview with this contact",
            )
        state = InterviewState(found.interview_state)
    if letter_id is not None:
        if found.letter_id is None:
            raise not_referenced("letter_id")
        if (
            found.letter_status != LetterStatus.SENT.value
            or found.letter_recipient_id != contact_id
        ):
            raise _invalid(
                "letter_id",
                "letter_mismatch",
                "A reply answers a letter you sent to the same contact; this letter is a draft "
                "or went to someone else.",
                "not a letter sent to this contact",
            )
        if (
            interview_id is not None
            and found.letter_interview_id is not None
            and found.letter_interview_id != interview_id
        ):
            raise _invalid(
                "letter_id",
                "letter_mismatch",
                "The letter is about another interview than the one named.",
                "about another interview",
            )
    return state


def _logged(interaction: Interaction, state: InterviewState | None) -> InteractionLogged:
    """The interaction, with the move its outcome suggests for its interview."""
    logged = InteractionLogged.model_validate(interaction, from_attributes=True)
    if state is not None:
        suggestion = workflow.suggested_move(state, _outcome(interaction.outcome))
        if suggestion is not None:
            logged.suggested_transition = SuggestedTransition(
                to=suggestion.to, reason=suggestion.reason
            )
    return logged


def _outcome(value: str | None) -> Outcome | None:
    return None if value is None else Outcome(value)


def create(
    session: Session, owner_id: uuid.UUID, data: InteractionCreate
) -> tuple[InteractionLogged, int]:
    """Log an interaction with one of the caller's contacts; one commit with its
    ``interaction.logged`` event and the contact's ``last_contacted_at``. Returns the
    interaction, with what it suggests, and its version."""
    now = utcnow()
    occurred_at = data.occurred_at or now
    # What the body names is checked first: another user's id answers as one that exists nowhere.
    state = _check_references(session, owner_id, data.contact_id, data.interview_id, data.letter_id)
    _check_shape(data.kind, data.direction, data.outcome, data.letter_id, occurred_at, now)
    interaction = Interaction(
        owner_id=owner_id,
        contact_id=data.contact_id,
        interview_id=data.interview_id,
        letter_id=data.letter_id,
        kind=data.kind.value,
        direction=data.direction.value,
        outcome=data.outcome.value if data.outcome else None,
        occurred_at=occurred_at,
        notes=data.notes,
        created_at=now,
        updated_at=now,
    )
    InteractionRepository(session).add(interaction)
    emit(session, owner_id, "interaction.logged", InteractionPublic.model_validate(interaction))
    logged = _logged(interaction, state)
    session.flush()
    refresh_last_contacted(session, data.contact_id)
    session.commit()
    return logged, 1


def update_(
    session: Session,
    owner_id: uuid.UUID,
    interaction_id: uuid.UUID,
    data: InteractionUpdate,
    *,
    if_match: str | None = None,
) -> tuple[InteractionLogged, int]:
    """Change the fields sent; the result is checked whole, as a new interaction would be."""
    interactions = InteractionRepository(session)
    changes = data.model_dump(exclude_unset=True)

    def attempt() -> tuple[InteractionLogged, int]:
        interaction = interactions.get(owner_id, interaction_id)
        check_if_match(if_match, interaction.version)
        merged: dict[str, Any] = {
            "kind": InteractionKind(interaction.kind),
            "direction": Direction(interaction.direction),
            "outcome": _outcome(interaction.outcome),
            "interview_id": interaction.interview_id,
            "letter_id": interaction.letter_id,
            "occurred_at": interaction.occurred_at,
            **changes,
        }
        state = _check_references(
            session, owner_id, interaction.contact_id, merged["interview_id"], merged["letter_id"]
        )
        _check_shape(
            merged["kind"],
            merged["direction"],
            merged["outcome"],
            merged["letter_id"],
            merged["occurred_at"],
            utcnow(),
        )
        if not changes:
            return _logged(interaction, state), interaction.version
        values = {
            name: value.value if isinstance(value, Outcome | InteractionKind | Direction) else value
            for name, value in changes.items()
        }
        interactions.compare_and_set(interaction, **values)
        interactions.refresh(interaction)  # as written, for the event and the answer
        logged, version = _logged(interaction, state), interaction.version
        emit(
            session, owner_id, "interaction.updated", InteractionPublic.model_validate(interaction)
        )
        refresh_last_contacted(session, interaction.contact_id)
        session.commit()
        return logged, version

    return optimistic_write(session, attempt, if_match=if_match, what="interaction")


def delete_(
    session: Session,
    owner_id: uuid.UUID,
    interaction_id: uuid.UUID,
    *,
    if_match: str | None = None,
) -> None:
    """Delete an interaction; the contact's ``last_contacted_at`` follows."""
    interactions = InteractionRepository(session)

    def attempt() -> None:
        interaction = interactions.get(owner_id, interaction_id)
        check_if_match(if_match, interaction.version)
        interactions.compare_and_delete(interaction)
        refresh_last_contacted(session, interaction.contact_id)
        session.commit()
        session.expunge(interaction)

    optimistic_write(session, attempt, if_match=if_match, what="interaction")
