"""The interviews resource, its preparation checklist, and its workflow moves."""

from __future__ import annotations

import hashlib
import uuid
from functools import cache
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from pydantic import TypeAdapter

from app.accounts.deps import (
    ConnectionDep,
    CurrentReader,
    CurrentUser,
    IfMatch,
    ReadSessionDep,
    SessionDep,
)
from app.interviews import checklist as checklist_service
from app.interviews import service
from app.interviews.schemas import (
    ChecklistPublic,
    ChecklistUpdate,
    InterviewCreate,
    InterviewEventPublic,
    InterviewPublic,
    InterviewTransitionProblem,
    InterviewUpdate,
    TransitionOption,
    TransitionRequest,
    UnmetRequirement,
    WorkflowPublic,
)
from app.kit.api import API_PREFIX
from app.kit.problems import declared_headers, problem_responses, success_headers
from app.kit.queries import etag
from app.kit.schemas import (
    Page,
    PageCursor,
    PageLimit,
    Timestamp,
    page_writer,
    row_writer,
)
from app.vocabulary import InterviewMode, InterviewState

router = APIRouter(prefix=API_PREFIX, tags=["interviews"])
# The hot reads write the rows they read as their response models would be written, without
# reading them into those models first (`row_writer`): the same bytes, for half the work.
_ONE = row_writer(InterviewPublic)
_PAGE = page_writer(InterviewPublic)


def _public(interview: object) -> InterviewPublic:
    return InterviewPublic.model_validate(interview, from_attributes=True)


@router.post(
    "/interviews",
    operation_id="interviews-create",
    status_code=status.HTTP_201_CREATED,
    response_model=InterviewPublic,
    responses={**problem_responses(401, 409, 422), **success_headers(201, "ETag", "Location")},
)
async def create_interview(
    data: InterviewCreate, connection: ConnectionDep, user: CurrentReader, response: Response
) -> InterviewPublic:
    """Create an interview (in state request) with its empty preparation checklist."""
    interview, version = await connection.run_sync(service.create, user.id, data)
    response.headers["Location"] = f"/api/v1/interviews/{interview.id}"
    response.headers["ETag"] = etag(version)
    return interview


@router.get(
    "/interviews",
    operation_id="interviews-list",
    response_model=Page[InterviewPublic],
    responses=problem_responses(401, 422),
)
async def list_interviews(
    connection: ConnectionDep,
    user: CurrentReader,
    state: InterviewState | None = None,
    contact_id: uuid.UUID | None = None,
    mode: InterviewMode | None = None,
    scheduled_after: Annotated[
        Timestamp | None, Query(description="Scheduled at or after this time.")
    ] = None,
    scheduled_before: Annotated[
        Timestamp | None, Query(description="Scheduled before this time.")
    ] = None,
    updated_since: Annotated[
        Timestamp | None, Query(description="Changed at or after this time.")
    ] = None,
    source: Annotated[str | None, Query(max_length=100)] = None,
    external_id: Annotated[str | None, Query(max_length=255)] = None,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
) -> Response:
    """List interviews, newest first, with optional filters."""
    filters = service.InterviewFilters(
        state=state,
        contact_id=contact_id,
        mode=mode,
        scheduled_after=scheduled_after,
        scheduled_before=scheduled_before,
        updated_since=updated_since,
        source=source,
        external_id=external_id,
    )
    rows, has_more, next_cursor = await connection.run_sync(
        service.list_, user.id, filters, limit=limit, cursor=cursor
    )
    page = {"data": rows, "has_more": has_more, "next_cursor": next_cursor}
    return Response(_PAGE.dump_json(page), media_type="application/json")


@router.get(
    "/interviews/{interview_id}",
    operation_id="interviews-get",
    response_model=InterviewPublic,
    responses={**problem_responses(401, 404, 422), **success_headers(200, "ETag")},
)
async def get_interview(
    interview_id: uuid.UUID, connection: ConnectionDep, user: CurrentReader
) -> Response:
    """Get one interview."""
    row = await connection.run_sync(service.get_row, user.id, interview_id)
    body = _ONE.dump_json(dict(row._mapping))
    return Response(body, media_type="application/json", headers={"ETag": etag(row.version)})


@router.patch(
    "/interviews/{interview_id}",
    operation_id="interviews-update",
    response_model=InterviewPublic,
    responses={**problem_responses(401, 404, 409, 412, 422), **success_headers(200, "ETag")},
)
async def update_interview(
    interview_id: uuid.UUID,
    data: InterviewUpdate,
    session: SessionDep,
    user: CurrentUser,
    response: Response,
    if_match: IfMatch = None,
) -> InterviewPublic:
    """Change an interview's details; its state moves only through transitions."""
    interview = await session.run(service.update_, user.id, interview_id, data, if_match=if_match)
    response.headers["ETag"] = etag(interview.version)
    return _public(interview)


@router.delete(
    "/interviews/{interview_id}",
    operation_id="interviews-delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 404, 409, 412, 422),
)
async def delete_interview(
    interview_id: uuid.UUID, session: SessionDep, user: CurrentUser, if_match: IfMatch = None
) -> Response:
    """Delete an interview that no letter refers to; cancel it otherwise."""
    await session.run(service.delete_, user.id, interview_id, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/interviews/{interview_id}/checklist",
    operation_id="interviews-get-checklist",
    response_model=ChecklistPublic,
    responses={**problem_responses(401, 404, 422), **success_headers(200, "ETag")},
)
async def get_checklist(
    interview_id: uuid.UUID, session: ReadSessionDep, user: CurrentUser, response: Response
) -> ChecklistPublic:
    """Get an interview's preparation checklist (its ETag is the interview's)."""
    interview, checklist = await session.run(checklist_service.get, user.id, interview_id)
    response.headers["ETag"] = etag(interview.version)
    return checklist_service.to_public(interview, checklist)


@router.patch(
    "/interviews/{interview_id}/checklist",
    operation_id="interviews-update-checklist",
    response_model=ChecklistPublic,
    responses={**problem_responses(401, 404, 409, 412, 422), **success_headers(200, "ETag")},
)
async def update_checklist(
    interview_id: uuid.UUID,
    data: ChecklistUpdate,
    session: SessionDep,
    user: CurrentUser,
    response: Response,
    if_match: IfMatch = None,
) -> ChecklistPublic:
    """Tick, untick or annotate checklist items; returns the interview's new ETag."""
    interview, checklist = await session.run(
        checklist_service.update, user.id, interview_id, data, if_match=if_match
    )
    response.headers["ETag"] = etag(interview.version)
    return checklist_service.to_public(interview, checklist)


@router.get(
    "/interviews/{interview_id}/transitions",
    operation_id="interviews-list-transitions",
    response_model=list[TransitionOption],
    responses={**problem_responses(401, 404, 422), **success_headers(200, "ETag")},
)
async def list_transitions(
    interview_id: uuid.UUID, connection: ConnectionDep, user: CurrentReader, response: Response
) -> list[TransitionOption]:
    """List the states the interview may move to next, each with its unmet requirements."""
    interview, options = await connection.run_sync(
        service.transition_options, user.id, interview_id
    )
    response.headers["ETag"] = etag(interview.version)
    return [
        TransitionOption(
            to=o.to,
            allowed=o.allowed,
            unmet=[UnmetRequirement.model_validate(r.as_dict()) for r in o.unmet],
            required_fields=list(o.required_fields),
        )
        for o in options
    ]


# A refused move's 409 is typed with the workflow's own states and codes.
_TRANSITION_RESPONSES = problem_responses(401, 404, 409, 412, 422)
_TRANSITION_RESPONSES[409] = {
    **_TRANSITION_RESPONSES[409],
    "model": InterviewTransitionProblem,
    "description": "The move was refused (transition_refused): errors[] names every unmet "
    "requirement",
}


@router.post(
    "/interviews/{interview_id}/transitions",
    operation_id="interviews-transition",
    response_model=InterviewPublic,
    responses={**_TRANSITION_RESPONSES, **success_headers(200, "ETag")},
)
async def transition_interview(
    interview_id: uuid.UUID,
    data: TransitionRequest,
    connection: ConnectionDep,
    user: CurrentReader,
    response: Response,
    if_match: IfMatch = None,
) -> InterviewPublic:
    """Move the interview to its next state; refused with every unmet requirement if not ready."""
    interview, version = await connection.run_sync(
        service.transition,
        user.id,
        interview_id,
        data.to,
        actor=str(user.id),
        held_at=data.held_at,
        reason=data.reason,
        if_match=if_match,
    )
    response.headers["ETag"] = etag(version)
    return interview


@router.get(
    "/interviews/{interview_id}/events",
    operation_id="interviews-list-events",
    response_model=Page[InterviewEventPublic],
    responses=problem_responses(401, 404, 422),
)
async def list_events(
    interview_id: uuid.UUID,
    session: ReadSessionDep,
    user: CurrentUser,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
) -> Page[InterviewEventPublic]:
    """List the interview's recorded workflow moves, oldest first."""
    rows, has_more, next_cursor = await session.run(
        service.list_events, user.id, interview_id, limit=limit, cursor=cursor
    )
    return Page[InterviewEventPublic](
        data=[InterviewEventPublic.model_validate(r, from_attributes=True) for r in rows],
        has_more=has_more,
        next_cursor=next_cursor,
    )


@cache
def _workflow() -> tuple[bytes, str]:
    """The workflow document and its ETag: the same for everyone until the code changes."""
    body = TypeAdapter(WorkflowPublic).dump_json(service.describe_workflow())
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@router.get(
    "/workflow",
    operation_id="interviews-workflow",
    response_model=WorkflowPublic,
    responses={
        **problem_responses(401, 422),
        **success_headers(200, "ETag"),
        304: {
            "description": "Unchanged since the ETag sent in If-None-Match.",
            "headers": declared_headers("ETag"),
        },
    },
)
async def get_workflow(
    user: CurrentUser,
    if_none_match: Annotated[str | None, Header(max_length=1000)] = None,
) -> Response:
    """Get the interview workflow: its states, its moves and every requirement they check."""
    body, tag = _workflow()
    headers = {"ETag": tag, "Cache-Control": "public, max-age=3600"}
    if if_none_match and (
        if_none_match.strip() == "*"
        or tag in {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    ):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
