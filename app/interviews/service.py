"""Interviews: create, read, list, update, delete, and move them through the workflow.

The rules of the workflow live in :mod:`app.interviews.workflow`; this module loads the facts
its guards look at, and applies an accepted move with compare-and-set on the interview's
version, so two concurrent moves (or a move and a checklist edit) can never both take effect.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from functools import cache
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    Select,
    bindparam,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.contacts.activity import refresh_last_contacted
from app.contacts.schemas import Contact
from app.interviews import workflow
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
from app.kit.queries import (
    check_if_match,
    compare_and_delete,
    compare_and_set,
    decode_cursor,
    encode_cursor,
    get_owned,
    get_owned_row,
    insert_row,
    keyset_rows,
    optimistic_write,
    owned,
    owned_page_statement,
    require_owned_ref,
)
from app.letters.schemas import Letter
from app.referrals.schemas import Referral
from app.vocabulary import InterviewMode, InterviewState, LetterKind, LetterStatus
from app.webhooks.outbox import emit


def get(session: Session, owner_id: uuid.UUID, interview_id: uuid.UUID) -> Interview:
    """The caller's interview, or a 404."""
    return get_owned(session, Interview, interview_id, owner_id, what="interview")


def get_row(db: Session | Connection, owner_id: uuid.UUID, interview_id: uuid.UUID) -> Row[Any]:
    """The caller's interview as a row, or a 404."""
    return get_owned_row(db, Interview, interview_id, owner_id, what="interview")


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


# Each list filter as a condition on a bound parameter of the same name.
_LIST_FILTERS: dict[str, Callable[[Any], Any]] = {
    "state": lambda c: c.state == bindparam("state"),
    "contact_id": lambda c: c.contact_id == bindparam("contact_id"),
    "mode": lambda c: c.mode == bindparam("mode"),
    "scheduled_after": lambda c: c.scheduled_at >= bindparam("scheduled_after"),
    "scheduled_before": lambda c: c.scheduled_at < bindparam("scheduled_before"),
    "updated_since": lambda c: c.updated_at >= bindparam("updated_since"),
    "source": lambda c: c.source == bindparam("source"),
    "external_id": lambda c: c.external_id == bindparam("external_id"),
}


@cache
def _list_statement(filters: tuple[str, ...], after_cursor: bool) -> Select[Any]:
    table = Interview.__table__  # type: ignore[attr-defined]
    conditions = [_LIST_FILTERS[name](table.c) for name in filters]
    return owned_page_statement(table, conditions, after_cursor=after_cursor)


def list_(
    db: Session | Connection,
    owner_id: uuid.UUID,
    filters: InterviewFilters,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], bool, str | None]:
    """One page of the caller's interviews, newest first, as rows."""
    params: dict[str, Any] = {"owner": owner_id}
    for name in _LIST_FILTERS:
        value = getattr(filters, name)
        if value is not None:
            params[name] = value.value if isinstance(value, Enum) else value
    statement = _list_statement(tuple(params)[1:], cursor is not None)
    return keyset_rows(db, statement, params, limit=limit, cursor=cursor)


def _check_referral(
    session: Session, owner_id: uuid.UUID, referral_id: uuid.UUID, contact_id: uuid.UUID
) -> None:
    referral = require_owned_ref(session, Referral, referral_id, owner_id, field="referral_id")
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
    session: Session,
    owner_id: uuid.UUID,
    source: str | None,
    external_id: str | None,
    exclude: uuid.UUID | None = None,
) -> None:
    if source is None or external_id is None:
        return
    col: Any = Interview
    stmt = select(col.id).where(
        col.owner_id == owner_id, col.source == source, col.external_id == external_id
    )
    if exclude is not None:
        stmt = stmt.where(col.id != exclude)
    if session.execute(stmt.limit(1)).first() is not None:
        raise _external_id_taken(source, external_id)


def _external_id_taken(source: str | None, external_id: str | None) -> Conflict:
    return Conflict(
        f"Another interview already has external_id {external_id!r} from source {source!r}.",
        code="external_id_taken",
    )


def create(session: Session, owner_id: uuid.UUID, data: InterviewCreate) -> Interview:
    """Create an interview in state ``request``, with its empty preparation checklist."""
    require_owned_ref(session, Contact, data.contact_id, owner_id, field="contact_id")
    if data.referral_id is not None:
        _check_referral(session, owner_id, data.referral_id, data.contact_id)
    _check_external_id(session, owner_id, data.source, data.external_id)
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
    session.add(interview)
    session.flush()
    session.add(PrepChecklist(interview_id=interview.id, owner_id=owner_id, updated_at=now))
    emit(session, owner_id, "interview.created", InterviewPublic.model_validate(interview))
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise _external_id_taken(data.source, data.external_id) from exc
    session.refresh(interview)  # read back as stored: timestamps in UTC
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

    def attempt() -> Interview:
        interview = get(session, owner_id, interview_id)
        check_if_match(if_match, interview.version)
        changes = data.model_dump(mode="python", exclude_unset=True)
        if "questions" in changes:
            changes["questions"] = data.model_dump(mode="json", include={"questions"})["questions"]
        for key in ("mode", "decision"):
            if key in changes:
                changes[key] = str(changes[key])
        if changes.get("referral_id") is not None:
            _check_referral(session, owner_id, changes["referral_id"], interview.contact_id)
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
            _check_external_id(session, owner_id, source, external_id, exclude=interview.id)
        if not changes:
            return interview
        try:
            compare_and_set(session, Interview, interview.id, interview.version, **changes)
            session.commit()
        except IntegrityError as exc:
            session.rollback()
            raise _external_id_taken(changes.get("source"), changes.get("external_id")) from exc
        session.refresh(interview)
        return interview

    return optimistic_write(session, attempt, if_match=if_match, what="interview")


def delete_(
    session: Session, owner_id: uuid.UUID, interview_id: uuid.UUID, *, if_match: str | None = None
) -> None:
    """Delete an interview (its checklist and events go with it) unless a letter refers to it."""

    def attempt() -> None:
        interview = get(session, owner_id, interview_id)
        check_if_match(if_match, interview.version)
        in_use = Conflict(
            "Letters refer to this interview, so it stays on record; delete its draft letters, "
            "or cancel the interview instead.",
            code="interview_in_use",
        )
        col: Any = Letter
        if session.execute(select(col.id).where(col.interview_id == interview.id).limit(1)).first():
            raise in_use
        try:
            # The checklist and the events go by ON DELETE CASCADE.
            compare_and_delete(session, Interview, interview.id, interview.version)
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


_INTERVIEWS: Any = Interview.__table__  # type: ignore[attr-defined]
_CHECKLISTS: Any = PrepChecklist.__table__  # type: ignore[attr-defined]
_LETTERS: Any = Letter.__table__  # type: ignore[attr-defined]
_REFERRALS: Any = Referral.__table__  # type: ignore[attr-defined]
_EVENTS: Any = InterviewEvent.__table__  # type: ignore[attr-defined]


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
    connection = session.connection()
    checklist = connection.execute(
        _CHECKLISTS.select().where(_CHECKLISTS.c.interview_id == interview.id)
    ).first()
    missing = (
        missing_items(checklist, InterviewMode(interview.mode))
        if checklist is not None
        else list(workflow.CHECKLIST_ITEMS)
    )

    # Latest sent letter of each kind to each recipient, for this interview.
    lcol: Any = _LETTERS.c
    sent = connection.execute(
        select(lcol.kind, lcol.recipient_id, func.max(lcol.sent_at))
        .where(
            lcol.owner_id == interview.owner_id,
            lcol.interview_id == interview.id,
            lcol.status == LetterStatus.SENT.value,
            lcol.kind.in_(
                [LetterKind.REQUEST.value, LetterKind.THANK_YOU.value, LetterKind.REPORT_BACK.value]
            ),
        )
        .group_by(lcol.kind, lcol.recipient_id)
    ).all()
    latest: dict[tuple[str, uuid.UUID], datetime] = {}
    for kind, recipient_id, sent_at in sent:
        if sent_at is not None:
            latest[(kind, recipient_id)] = _aware(sent_at)

    rcol: Any = _REFERRALS.c
    referrers = tuple(
        connection.execute(
            select(rcol.referrer_id)
            .where(rcol.owner_id == interview.owner_id, rcol.referred_id == interview.contact_id)
            .order_by(rcol.referrer_id)
        ).scalars()
    )
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
    c = _INTERVIEWS.c
    result = session.connection().execute(
        _INTERVIEWS.update()
        .where(c.id == interview.id, c.version == interview.version, c.state == from_state.value)
        .values(**values)
    )
    if result.rowcount != 1:
        session.rollback()
        session.expire_all()
        fresh = session.get(Interview, interview.id)
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
    insert_row(
        session,
        InterviewEvent,
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
    interview = get(session, owner_id, interview_id)
    col: Any = InterviewEvent
    stmt = owned(InterviewEvent, owner_id).where(col.interview_id == interview.id)
    if cursor is not None:
        stmt = stmt.where(col.id > decode_cursor(cursor))
    rows = session.exec(stmt.order_by(col.id.asc()).limit(limit + 1)).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].id) if has_more and rows else None
    return rows, has_more, next_cursor
