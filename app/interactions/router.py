"""The interactions resource: calls, voicemails, meetings, messages and replies."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status
from sqlalchemy import Row

from app.accounts.deps import CurrentReader, CurrentUser, IfMatch, ReadSessionDep, SessionDep
from app.interactions import service
from app.interactions.schemas import (
    InteractionCreate,
    InteractionLogged,
    InteractionPublic,
    InteractionUpdate,
)
from app.kit.api import API_PREFIX
from app.kit.problems import problem_responses, success_headers
from app.kit.queries import etag
from app.kit.schemas import Page, PageCursor, PageLimit, Timestamp, page_writer
from app.vocabulary import InteractionKind

router = APIRouter(prefix=API_PREFIX, tags=["interactions"])
# A page is written from its rows as `Page[InteractionPublic]` would write it (`page_writer`).
_PAGE = page_writer(InteractionPublic)

InteractionId = Annotated[uuid.UUID, Path(description="The interaction's id.")]


def _with_etag(logged: InteractionLogged, version: int, response: Response) -> InteractionLogged:
    response.headers["ETag"] = etag(version)
    return logged


@router.post(
    "/interactions",
    operation_id="interactions-create",
    status_code=status.HTTP_201_CREATED,
    response_model=InteractionLogged,
    responses={**problem_responses(401, 422), **success_headers(201, "ETag", "Location")},
)
async def create_interaction(
    data: InteractionCreate,
    user: CurrentReader,
    session: SessionDep,
    request: Request,
    response: Response,
) -> InteractionLogged:
    """Log a call, voicemail, meeting, message or reply with one of your contacts."""
    logged, version = await session.run(service.create, user.id, data)
    response.headers["Location"] = request.app.url_path_for(
        "get_interaction", interaction_id=logged.id
    )
    return _with_etag(logged, version, response)


@router.get(
    "/interactions",
    operation_id="interactions-list",
    response_model=Page[InteractionPublic],
    responses=problem_responses(401, 422),
)
async def list_interactions(
    user: CurrentReader,
    session: ReadSessionDep,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
    contact_id: Annotated[uuid.UUID | None, Query(description="Only with this contact.")] = None,
    interview_id: Annotated[
        uuid.UUID | None, Query(description="Only about this interview.")
    ] = None,
    kind: Annotated[InteractionKind | None, Query(description="Only of this kind.")] = None,
    occurred_after: Annotated[
        Timestamp | None, Query(description="Only those that happened at or after this time.")
    ] = None,
    occurred_before: Annotated[
        Timestamp | None, Query(description="Only those that happened before this time.")
    ] = None,
) -> Response:
    """List your interactions, newest logged first."""
    filters = {
        "contact_id": contact_id,
        "interview_id": interview_id,
        "kind": kind,
        "occurred_after": occurred_after,
        "occurred_before": occurred_before,
    }
    rows, has_more, next_cursor = await session.run(
        service.list_, user.id, filters, limit=limit, cursor=cursor
    )
    page = {"data": rows, "has_more": has_more, "next_cursor": next_cursor}
    return Response(_PAGE.dump_json(page), media_type="application/json")


@router.get(
    "/interactions/{interaction_id}",
    operation_id="interactions-get",
    response_model=InteractionPublic,
    responses={**problem_responses(401, 404, 422), **success_headers(200, "ETag")},
)
async def get_interaction(
    interaction_id: InteractionId, user: CurrentReader, session: ReadSessionDep, response: Response
) -> InteractionPublic:
    """Get one interaction."""
    row: Row[Any] = await session.run(service.get_row, user.id, interaction_id)
    response.headers["ETag"] = etag(row.version)
    return InteractionPublic.model_validate(row, from_attributes=True)


@router.patch(
    "/interactions/{interaction_id}",
    operation_id="interactions-update",
    response_model=InteractionLogged,
    responses={**problem_responses(401, 404, 409, 412, 422), **success_headers(200, "ETag")},
)
async def update_interaction(
    interaction_id: InteractionId,
    data: InteractionUpdate,
    user: CurrentUser,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> InteractionLogged:
    """Change some of an interaction's fields (its contact is fixed)."""
    logged, version = await session.run(
        service.update_, user.id, interaction_id, data, if_match=if_match
    )
    return _with_etag(logged, version, response)


@router.delete(
    "/interactions/{interaction_id}",
    operation_id="interactions-delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 404, 409, 412, 422),
)
async def delete_interaction(
    interaction_id: InteractionId, user: CurrentUser, session: SessionDep, if_match: IfMatch = None
) -> Response:
    """Delete an interaction."""
    await session.run(service.delete_, user.id, interaction_id, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
