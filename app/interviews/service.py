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
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, Row
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.contacts.activity import held_interview_update, refresh_last_contacted
from app.interviews import repository, workflow
from app.interviews.repository import InterviewRepository
from app.interviews.schemas import (
    Interview,
    InterviewCreate,
    InterviewEvent,
    InterviewPublic,
    InterviewStateChanged,
    InterviewUpdate,
    PrepChecklist,
    WorkflowCheck,
    WorkflowChecklistItem,
    WorkflowMove,
    WorkflowPublic,
    WorkflowState,
)
from app.kit.db import utcnow
from app.kit.errors import Conflict, PreconditionFailed, Unprocessable, caller_gone
from app.kit.queries import check_if_match, new_row, not_referenced, optimistic_write
from app.vocabulary import InterviewMode, InterviewState, LetterKind
from app.webhooks.outbox import event_row


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


def _referral_mismatch() -> Unprocessable:
    return Unprocessable(
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


def create(
    connection: Connection, owner_id: uuid.UUID, data: InterviewCreate
) -> tuple[InterviewPublic, int]:
    """Create an interview in state ``request``, with its empty preparation checklist.

    Two round trips: one statement checks the caller, the contact, the referral and the
    external identity; one unit of work writes the interview, its checklist and its
    ``interview.created`` event. Returns the interview as its owner sees it, and its version.
    """
    found = repository.create_checks(
        connection,
        owner_id,
        contact_id=data.contact_id,
        referral_id=data.referral_id,
        source=data.source,
        external_id=data.external_id,
    )
    if found is None:
        raise caller_gone()
    if found.contact_id is None:
        raise not_referenced("contact_id")
    if data.referral_id is not None:
        if found.referred_id is None:
            raise not_referenced("referral_id")
        if found.referred_id != data.contact_id:
            raise _referral_mismatch()
    if found.holder_id is not None:
        raise _external_id_taken(data.source, data.external_id)
    now = utcnow()
    values = data.model_dump(mode="json", include={"questions"})
    row = new_row(
        Interview,
        **{
            name: value.astimezone(UTC) if isinstance(value, datetime) else value
            for name, value in data.model_dump(exclude={"questions"}).items()
        },
        questions=values["questions"],
        owner_id=owner_id,
        state=InterviewState.REQUEST.value,
        requested_at=now,
        created_at=now,
        updated_at=now,
    )
    interview = InterviewPublic.model_validate(row)
    checklist = new_row(PrepChecklist, interview_id=row["id"], owner_id=owner_id, updated_at=now)
    try:
        written = repository.insert_new(
            connection,
            owner_id,
            row,
            checklist,
            event_row(owner_id, "interview.created", interview),
        )
    except IntegrityError as exc:  # a concurrent create took the external id first
        raise _external_id_taken(data.source, data.external_id) from exc
    if not written:
        raise caller_gone()
    return interview, row["version"]


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
            referral = interviews.require_referral(owner_id, changes["referral_id"])
            if referral.referred_id != interview.contact_id:
                raise _referral_mismatch()
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


def missing_items(checklist: Any, mode: InterviewMode) -> list[str]:
    """The checklist items still required before the interview counts as prepared.

    ``checklist`` has the checklist's columns as attributes: the entity, or a row.
    """
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
    connection: Connection,
    interview: Row[Any],
    *,
    now: datetime,
    requested_held_at: datetime | None = None,
    reason: str | None = None,
) -> workflow.Facts:
    """The snapshot the guards look at: ``interview`` is the row read with its checklist
    (:func:`repository.get_with_checklist`); the letters sent and the interviewee's
    referrers come in one more statement."""
    columns = interview._mapping
    checklist = SimpleNamespace(
        **{
            name[len(repository.CHECKLIST_PREFIX) :]: value
            for name, value in columns.items()
            if name.startswith(repository.CHECKLIST_PREFIX)
        }
    )
    missing = (
        missing_items(checklist, InterviewMode(interview.mode))
        if checklist.interview_id is not None
        else list(workflow.CHECKLIST_ITEMS)
    )
    latest: dict[tuple[str, uuid.UUID], datetime] = {}
    referrers: list[uuid.UUID] = []
    for row in repository.guard_facts(
        connection, interview.owner_id, interview.id, interview.contact_id, _GUARDED_LETTERS
    ):
        if row.fact == repository.REFERRED_BY:
            referrers.append(row.person)
        elif row.at is not None:
            latest[(row.fact, row.person)] = _aware(row.at)
    thank_you = latest.get((LetterKind.THANK_YOU.value, interview.contact_id))
    return workflow.Facts(
        state=InterviewState(interview.state),
        now=now,
        scheduled_at=interview.scheduled_at,
        checklist_missing=tuple(missing),
        request_letter_sent=(LetterKind.REQUEST.value, interview.contact_id) in latest,
        thank_you_sent_at=(thank_you,) if thank_you else (),
        referrers=tuple(sorted(referrers)),
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
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def transition_options(
    connection: Connection, owner_id: uuid.UUID, interview_id: uuid.UUID
) -> tuple[Row[Any], list[workflow.Option]]:
    """Each state the interview may move to next, with what still stands in the way."""
    interview = repository.get_with_checklist(connection, owner_id, interview_id)
    if not workflow.next_states(InterviewState(interview.state)):
        return interview, []  # the end of the road: nothing to look up
    return interview, workflow.options(load_facts(connection, interview, now=utcnow()))


def _checks(checks: Sequence[workflow.Check]) -> list[WorkflowCheck]:
    return [WorkflowCheck(code=c.code, message=c.sentence) for c in checks]


def describe_workflow() -> WorkflowPublic:
    """The workflow as data, read from the definitions the guards themselves use."""
    return WorkflowPublic(
        initial_state=workflow.REQUEST,
        states=[
            WorkflowState(
                state=state, description=workflow.MEANING[state], final=not workflow.ALLOWED[state]
            )
            for state in workflow.ORDER
        ],
        moves=[
            WorkflowMove(
                from_state=move.from_state,
                to_state=move.to_state,
                checks=_checks(move.checks),
                required_fields=list(move.required_fields),
            )
            for move in workflow.moves()
        ],
        any_move=_checks(workflow.ANY_MOVE),
        checklist=[
            WorkflowChecklistItem(
                item=item.name, needs_text=item.needs_text, only_for_mode=item.only_for
            )
            for item in workflow.CHECKLIST
        ],
    )


def _refused(detail: str, state: InterviewState, unmet: list[dict[str, Any]]) -> Conflict:
    return Conflict(
        detail,
        code="transition_refused",
        errors=unmet,
        current_state=state.value,
        allowed_transitions=[s.value for s in workflow.next_states(state)],
    )


# How often a move whose guards' facts changed under it is judged again before it is refused.
_MOVE_ATTEMPTS = 3


def transition(
    connection: Connection,
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

    Three round trips: the interview with its checklist, the other facts its guards look at,
    and the move as one unit of work — a compare-and-set on (version, state) and on the
    interviewee's referrers. Of two concurrent moves only one can match, and the other is
    refused as ``concurrent_transition``; a referral recorded meanwhile has the move judged
    again. Returns the interview after the move, and its new version.
    """
    for _ in range(_MOVE_ATTEMPTS):
        interview = repository.get_with_checklist(connection, owner_id, interview_id)
        check_if_match(if_match, interview.version)
        moved = _try_move(connection, interview, to, actor, held_at, reason)
        if moved is not None:
            return moved
        fresh = repository.current_version_and_state(connection, interview.id)
        if fresh is not None and (fresh.version, fresh.state) == (
            interview.version,
            interview.state,
        ):
            continue  # only the facts changed: judge the move again on the new ones
        if if_match is not None and fresh is not None and fresh.state == interview.state:
            # Not another move but an edit (checklist, fields): the precondition failed.
            raise PreconditionFailed(
                "The interview changed while this request ran; fetch it again and retry.",
                code="etag_mismatch",
            )
        current = InterviewState(fresh.state if fresh is not None else interview.state)
        break
    else:
        current = InterviewState(interview.state)
    raise _refused(
        "Another change to this interview was made at the same moment; this move was not applied.",
        current,
        [workflow.NOT_RACED.unmet().as_dict()],
    )


def _try_move(
    connection: Connection,
    interview: Row[Any],
    to: InterviewState,
    actor: str,
    held_at: datetime | None,
    reason: str | None,
) -> tuple[InterviewPublic, int] | None:
    """Judge the move on the facts as they are and write it; ``None`` if what it was judged
    on changed before the write."""
    now = utcnow()
    from_state = InterviewState(interview.state)
    facts = load_facts(connection, interview, now=now, requested_held_at=held_at, reason=reason)
    unmet = workflow.unmet_requirements(facts, to)
    if unmet:
        raise _refused(
            f"The interview cannot move from {from_state} to {to}; see errors[] for every "
            "unmet requirement.",
            from_state,
            [r.as_dict() for r in unmet],
        )
    entered = held_at.astimezone(UTC) if (to == InterviewState.HELD and held_at) else now
    values: dict[str, Any] = {
        "state": to.value,
        workflow.ENTERED_AT[to]: entered,
        "version": interview.version + 1,
        "updated_at": now,
    }
    if to == InterviewState.CANCELLED:
        values["cancel_reason"] = (reason or "").strip()
    # Once written, the row is exactly what was read plus ``values``.
    after = InterviewPublic.model_validate({**interview._mapping, **values})
    owner_id = interview.owner_id
    event = new_row(
        InterviewEvent,
        interview_id=interview.id,
        owner_id=owner_id,
        from_state=from_state.value,
        to_state=to.value,
        at=now,
        actor=actor,
        reason=reason.strip() if reason and reason.strip() else None,
    )
    also = []
    if to == InterviewState.HELD:
        also.append(held_interview_update(interview.contact_id, interview.id, entered))
    moved = repository.move(
        connection,
        interview,
        values,
        referrers=facts.referrers,
        event=event,
        outbox=event_row(
            owner_id, "interview.state_changed", _state_changed(after, from_state, now)
        ),
        also=also,
    )
    return (after, values["version"]) if moved else None


def _state_changed(
    interview: InterviewPublic, from_state: InterviewState, at: datetime
) -> InterviewStateChanged:
    """The ``interview.state_changed`` event's data: the move, and the interview after it."""
    return InterviewStateChanged(
        interview_id=interview.id,
        from_state=from_state,
        to_state=interview.state,
        at=at,
        interview=interview,
    )


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
