"""The preparation checklist of an interview: read it, tick items, write notes.

What the guards see changes with the checklist, so every edit bumps the interview's version
(with compare-and-set): a move to ``prepared`` evaluated against the old checklist can then
never be applied on top of the new one.
"""

from __future__ import annotations

import uuid

from sqlmodel import Session

from app.interviews.repository import InterviewRepository
from app.interviews.schemas import (
    ChecklistItemPublic,
    ChecklistPublic,
    ChecklistUpdate,
    Interview,
    OpeningStatementPublic,
    PrepChecklist,
)
from app.interviews.service import get as get_interview
from app.interviews.service import missing_items
from app.kit.db import utcnow
from app.kit.errors import NotFound
from app.kit.queries import check_if_match, optimistic_write
from app.vocabulary import InterviewMode


def _row(interviews: InterviewRepository, interview: Interview) -> PrepChecklist:
    checklist = interviews.checklist(interview.id)
    if checklist is None:  # created with every interview; absent only if the data was damaged
        raise NotFound(
            f"The interview {interview.id} has no checklist.", code="checklist_not_found"
        )
    return checklist


def get(
    session: Session, owner_id: uuid.UUID, interview_id: uuid.UUID
) -> tuple[Interview, PrepChecklist]:
    """The caller's interview and its checklist, or a 404."""
    interview = get_interview(session, owner_id, interview_id)
    return interview, _row(InterviewRepository(session), interview)


def update(
    session: Session,
    owner_id: uuid.UUID,
    interview_id: uuid.UUID,
    data: ChecklistUpdate,
    *,
    if_match: str | None = None,
) -> tuple[Interview, PrepChecklist]:
    """Apply a partial change to any items; ``done_at`` follows ``done``."""
    interviews = InterviewRepository(session)

    def attempt() -> tuple[Interview, PrepChecklist]:
        interview = get_interview(session, owner_id, interview_id)
        check_if_match(if_match, interview.version)
        checklist = _row(interviews, interview)
        now = utcnow()
        changed = False
        for item in data.model_fields_set:
            patch = getattr(data, item)
            for field in patch.model_fields_set:
                column = f"{item}_{field}"
                value = getattr(patch, field)
                if field == "done":
                    if bool(getattr(checklist, column)) == value:
                        continue
                    setattr(checklist, f"{item}_done_at", now if value else None)
                elif getattr(checklist, column) == value:
                    continue
                setattr(checklist, column, value)
                changed = True
        if not changed:
            return interview, checklist
        checklist.updated_at = now
        # Lock the interview row first (compare-and-set), then write the checklist.
        interviews.compare_and_set(interview, updated_at=now)
        interviews.add_checklist(checklist)
        session.commit()
        interviews.refresh(interview)
        return interview, checklist

    return optimistic_write(session, attempt, if_match=if_match, what="interview")


def to_public(interview: Interview, checklist: PrepChecklist) -> ChecklistPublic:
    """The checklist as the API shows it, with ``complete`` and ``missing`` derived."""

    def item(name: str) -> ChecklistItemPublic:
        return ChecklistItemPublic(
            done=getattr(checklist, f"{name}_done"),
            done_at=getattr(checklist, f"{name}_done_at"),
            note=getattr(checklist, f"{name}_note"),
        )

    missing = missing_items(checklist, InterviewMode(interview.mode))
    return ChecklistPublic(
        interview_id=interview.id,
        research=item("research"),
        website=item("website"),
        self_assessment=item("self_assessment"),
        opening_statement=OpeningStatementPublic(
            **item("opening_statement").model_dump(), text=checklist.opening_statement_text
        ),
        attire=item("attire"),
        complete=not missing,
        missing=missing,
        updated_at=checklist.updated_at,
    )
