"""Interviews: create, read, list, update, delete, and move them through the workflow.

The rules of the workflow live in :mod:`app.interviews.workflow`; this module loads the facts
its guards look at, and applies an accepted move with compare-and-set on the interview's
version, so two concurrent moves (or a move and a checklist edit) can never both take effect.
Every statement goes through :mod:`app.interviews.repository`; the decisions, the errors and
the one commit per use case stay here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.contacts.activity import refresh_last_contacted
from app.interviews import repository, workflow
from app.interviews.repository import InterviewRepository
from app.interviews.schemas import (
    Interview,
    InterviewCreate,
    InterviewEvent,
    InterviewPublic,
    InterviewUpdate,
    PrepChecklist,
)
from app.kit.db import utcnow
from app.kit.errors import Conflict, PreconditionFailed, Unprocessable
from app.kit.queries import check_if_match, optimistic_write
from app.vocabulary import InterviewMode, InterviewState, LetterKind
from app.webhooks.outbox import emit


def get(session: Session, owner_id: uuid.UUID, interview_id: uuid.UUID) -> Interview:
    """The caller's interview, or a 404."""
    return InterviewRepository(session).get(owner_id, interview_id)


def get_row(db: Session | Connection, owner_id: uuid.UUID, interview_id: uuid.UUID) -> Row[Any]:
    """The caller's interview as a row, or a 404."""
    return repository.get_row(db, owner_id, interview_id)


@dataclass(frozen=True)
class InterviewFilters:
    """The list filters; ``None`` means "any"."""

    state: InterviewState | None = None
    contact_id: uuid.UUID | None = None
    mode: InterviewMode | None = None
    scheduled_after: datetime | None = None
    scheduled_before: datetime | None = None
    updated_since: datetime | None = None
    source: str | None = None
    external_id: str | None = None


def list_(
    db: Session | Connection,
    owner_id: uuid.UUID,
    filters: InterviewFilters,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], bool, str | None]:
    """One page of the caller's interviews, newest first, as rows."""
    return repository.page(db, owner_id, vars(filters), limit=limit, cursor=cursor)


def _check_referral(
    interviews: InterviewRepository,
    owner_id: uuid.UUID,
    referral_id: uuid.UUID,
    contact_id: uuid.UUID,
) -> None:
    referral = interviews.require_referral(owner_id, referral_id)
    if referral.referred_id != contact_id:
        raise Unprocessable(
            "The referral names someone else as the person referred; an interview's referral "
            "must be the one that led to its interviewee.",
            code="referral_mismatch",
            errors=[
                {
                    "loc": ["body", "referral_id"],
                    "msg": "referred_id is not the interviewee",
                    "type": "referral_mismatch",
                }
            ],
        )


def _check_external_id(
    interviews: InterviewRepository,
    owner_id: uuid.UUID,
    source: str | None,
    external_id: str | None,
    exclude: uuid.UUID | None = None,
) -> None:
    if source is None or external_id is None:
        return
    if interviews.external_id_in_use(owner_id, source, external_id, exclude=exclude):
        raise _external_id_taken(source, external_id)


def _external_id_taken(source: str | None, external_id: str | None) -> Conflict:
    return Conflict(
        f"Another interview already has external_id {external_id!r} from source {source!r}.",
        code="external_id_taken",
    )


def create(session: Session, owner_id: uuid.UUID, data: InterviewCreate) -> Interview:
    """Create an interview in state ``request``, with its empty preparation checklist."""
    interviews = InterviewRepository(session)
    interviews.require_contact(owner_id, data.contact_id)
    if data.referral_id is not None:
        _check_referral(interviews, owner_id, data.referral_id, data.contact_id)
    _check_external_id(interviews, owner_id, data.source, data.external_id)
    now = utcnow()
    values = data.model_dump(mode="json", include={"questions"})
    interview = Interview(
        **data.model_dump(exclude={"questions"}),
        questions=values["questions"],
        owner_id=owner_id,
        state=InterviewState.REQUEST.value,
        requested_at=now,
        created_at=now,
        updated_at=now,
    )
    interviews.insert(interview)
    interviews.add_checklist(
        PrepChecklist(interview_id=interview.id, owner_id=owner_id, updated_at=now)
    )
    emit(session, owner_id, "interview.created", InterviewPublic.model_validate(interview))
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise _external_id_taken(data.source, data.external_id) from exc
    interviews.refresh(interview)  # read back as stored: timestamps in UTC
    return interview


def update_(
    session: Session,
    owner_id: uuid.UUID,
    interview_id: uuid.UUID,
    data: InterviewUpdate,
    *,
    if_match: str | None = None,
) -> Interview:
    """Change an interview's editable fields (never its state or interviewee)."""
    interviews = InterviewRepository(session)

    def attempt() -> Interview:
        interview = interviews.get(owner_id, interview_id)
        check_if_match(if_match, interview.version)
        changes = data.model_dump(mode="python", exclude_unset=True)
        if "questions" in changes:
            changes["questions"] = data.model_dump(mode="json", include={"questions"})["questions"]
        for key in ("mode", "decision"):
            if key in changes:
                changes[key] = str(changes[key])
        if changes.get("referral_id") is not None:
            _check_referral(interviews, owner_id, changes["referral_id"], interview.contact_id)
        if "external_id" in changes or "source" in changes:
            external_id = changes.get("external_id", interview.external_id)
            source = changes.get("source", interview.source)
            if (external_id is None) != (source is None):
                raise Unprocessable(
                    "external_id and source go together: give both or neither.",
                    code="validation_error",
                    errors=[
                        {
                            "loc": ["body", "source" if source is None else "external_id"],
                            "msg": "external_id and source go together",
                            "type": "value_error",
                        }
                    ],
                )
            _check_external_id(interviews, owner_id, source, external_id, exclude=interview.id)
        if not changes:
            return interview
        try:
            interviews.compare_and_set(interview, **changes)
            session.commit()
        except IntegrityError as exc:
            session.rollback()
            raise _external_id_taken(changes.get("source"), changes.get("external_id")) from exc
        interviews.refresh(interview)
        return interview

    return optimistic_write(session, attempt, if_match=if_match, what="interview")


def delete_(
    session: Session, owner_id: uuid.UUID, interview_id: uuid.UUID, *, if_match: str | None = None
) -> None:
    """Delete an interview (its checklist and events go with it) unless a letter refers to it."""
    interviews = InterviewRepository(session)

    def attempt() -> None:
        interview = interviews.get(owner_id, interview_id)
        check_if_match(if_match, interview.version)
        in_use = Conflict(
            "Letters refer to this interview, so it stays on record; delete its draft letters, "
            "or cancel the interview instead.",
            code="interview_in_use",
        )
        if interviews.has_letters(interview.id):
            raise in_use
        try:
            # The checklist and the events go by ON DELETE CASCADE.
            interviews.compare_and_delete(interview)
            refresh_last_contacted(session, interview.contact_id)
            session.commit()
        except IntegrityError as exc:  # a letter was tied to it in the meantime
            session.rollback()
            raise in_use from exc
        session.expunge(interview)

    optimistic_write(session, attempt, if_match=if_match, what="interview")


# --- the workflow -------------------------------------------------------------------------


def missing_items(checklist: PrepChecklist | Row[Any], mode: InterviewMode) -> list[str]:
    """The checklist items still required before the interview counts as prepared."""
    done = {item: bool(getattr(checklist, f"{item}_done")) for item in workflow.CHECKLIST_ITEMS}
    texts = {
        item.name: getattr(checklist, f"{item.name}_text")
        for item in workflow.CHECKLIST
        if item.needs_text
    }
    return workflow.missing_checklist_items(done, texts, mode)


# The letters whose sending the guards look at.
_GUARDED_LETTERS = (
    LetterKind.REQUEST.value,
    LetterKind.THANK_YOU.value,
    LetterKind.REPORT_BACK.value,
)


def load_facts(
    session: Session,
    interview: Interview | Row[Any],
    *,
    now: datetime,
    requested_held_at: datetime | None = None,
    reason: str | None = None,
) -> workflow.Facts:
    """The snapshot the guards look at, read with three small queries.

    ``interview`` is the ORM object or a row of the interview table: only columns are read.
    """
    interviews = InterviewRepository(session)
    checklist = interviews.checklist_row(interview.id)
    missing = (
        missing_items(checklist, InterviewMode(interview.mode))
        if checklist is not None
        else list(workflow.CHECKLIST_ITEMS)
    )

    # Latest sent letter of each kind to each recipient, for this interview.
    sent = interviews.last_sent(interview.owner_id, interview.id, _GUARDED_LETTERS)
    latest: dict[tuple[str, uuid.UUID], datetime] = {}
    for kind, recipient_id, sent_at in sent:
        if sent_at is not None:
            latest[(kind, recipient_id)] = _aware(sent_at)

    referrers = interviews.referrer_ids(interview.owner_id, interview.contact_id)
    thank_you = latest.get((LetterKind.THANK_YOU.value, interview.contact_id))
    return workflow.Facts(
        state=InterviewState(interview.state),
        now=now,
        scheduled_at=interview.scheduled_at,
        checklist_missing=tuple(missing),
        request_letter_sent=(LetterKind.REQUEST.value, interview.contact_id) in latest,
        thank_you_sent_at=(thank_you,) if thank_you else (),
        referrers=referrers,
        report_back_sent_at={
            recipient: (at,)
            for (kind, recipient), at in latest.items()
            if kind == LetterKind.REPORT_BACK.value
        },
        held_at=interview.held_at,
        requested_held_at=requested_held_at,
        reason=reason,
    )


def _aware(value: datetime) -> datetime:
    """A timestamp read through an aggregate, tagged UTC if the driver left it naive."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def transition_options(
    session: Session, owner_id: uuid.UUID, interview_id: uuid.UUID
) -> tuple[Interview, list[workflow.Option]]:
    """Each state the interview may move to next, with what still stands in the way."""
    interview = get(session, owner_id, interview_id)
    if not workflow.next_states(InterviewState(interview.state)):
        return interview, []  # the end of the road: nothing to look up
    return interview, workflow.options(load_facts(session, interview, now=utcnow()))


def _refused(detail: str, state: InterviewState, unmet: list[dict[str, Any]]) -> Conflict:
    return Conflict(
        detail,
        code="transition_refused",
        errors=unmet,
        current_state=state.value,
        allowed_transitions=[s.value for s in workflow.next_states(state)],
    )


def transition(
    session: Session,
    owner_id: uuid.UUID,
    interview_id: uuid.UUID,
    to: InterviewState,
    *,
    actor: str,
    held_at: datetime | None = None,
    reason: str | None = None,
    if_match: str | None = None,
) -> tuple[InterviewPublic, int]:
    """Move an interview to ``to`` if every guard holds; otherwise refuse and change nothing.

    The move is written with compare-and-set on (version, state): of two concurrent moves only
    one can match, and the other is refused as ``concurrent_transition``. Returns the
    interview after the move, and its new version.
    """
    interviews = InterviewRepository(session)
    interview = get_row(session, owner_id, interview_id)
    check_if_match(if_match, interview.version)
    now = utcnow()
    from_state = InterviewState(interview.state)
    facts = load_facts(session, interview, now=now, requested_held_at=held_at, reason=reason)
    unmet = workflow.unmet_requirements(facts, to)
    if unmet:
        raise _refused(
            f"The interview cannot move from {from_state} to {to}; see errors[] for every "
            "unmet requirement.",
            from_state,
            [r.as_dict() for r in unmet],
        )

    values: dict[str, Any] = {
        "state": to.value,
        workflow.ENTERED_AT[to]: (held_at or now) if to == InterviewState.HELD else now,
        "version": interview.version + 1,
        "updated_at": now,
    }
    if to == InterviewState.CANCELLED:
        values["cancel_reason"] = (reason or "").strip()
    if not interviews.compare_and_set_state(
        interview.id, interview.version, from_state.value, values
    ):
        session.rollback()
        fresh = interviews.reread(interview.id)
        current = InterviewState(fresh.state) if fresh is not None else from_state
        if if_match is not None and fresh is not None and fresh.state == from_state.value:
            # Not another move but an edit (checklist, fields): the precondition failed.
            raise PreconditionFailed(
                "The interview changed while this request ran; fetch it again and retry.",
                code="etag_mismatch",
            )
        raise _refused(
            "Another change to this interview was made at the same moment; this move was "
            "not applied.",
            current,
            [
                {
                    "code": "concurrent_transition",
                    "message": "Another request changed the interview at the same moment; "
                    "fetch it again and retry if the move still makes sense.",
                }
            ],
        )
    interviews.insert_event(
        interview_id=interview.id,
        owner_id=owner_id,
        from_state=from_state.value,
        to_state=to.value,
        at=now,
        actor=actor,
        reason=reason.strip() if reason and reason.strip() else None,
    )
    if to == InterviewState.HELD:
        refresh_last_contacted(session, interview.contact_id)
    # The compare-and-set matched, so the row is now exactly what was read plus ``values``.
    after = InterviewPublic.model_validate({**interview._mapping, **values})
    emit(session, owner_id, "interview.state_changed", _state_changed(after, from_state, now))
    session.commit()
    return after, values["version"]


def _state_changed(interview: InterviewPublic, from_state: InterviewState, at: datetime) -> Any:
    """The ``interview.state_changed`` event's data: the move, and the interview after it."""
    return {
        "interview_id": interview.id,
        "from_state": from_state.value,
        "to_state": interview.state.value,
        "at": at,
        "interview": interview.model_dump(mode="json"),
    }


def list_events(
    session: Session,
    owner_id: uuid.UUID,
    interview_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[InterviewEvent], bool, str | None]:
    """One page of an interview's recorded moves, oldest first."""
    interviews = InterviewRepository(session)
    interview = interviews.get(owner_id, interview_id)
    return interviews.events_page(owner_id, interview.id, limit=limit, cursor=cursor)
