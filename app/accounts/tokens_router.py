"""Personal access tokens: create (the secret is shown once), list, revoke.

Only a session (JWT) may manage tokens: a personal access token calling these operations is
refused with 403 ``insufficient_scope``, so a leaked token cannot mint more of itself.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from app.accounts import tokens as service
from app.accounts.deps import CurrentUser, ReadSessionDep, SessionDep
from app.accounts.token_schemas import TokenCreate, TokenCreated, TokenPublic
from app.kit.api import API_PREFIX
from app.kit.problems import problem_responses, success_headers
from app.kit.schemas import Page, PageCursor, PageLimit

router = APIRouter(prefix=API_PREFIX, tags=["tokens"])


@router.post(
    "/tokens",
    operation_id="tokens-create",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenCreated,
    responses={**problem_responses(401, 403, 422), **success_headers(201, "Location")},
)
async def create_token(
    data: TokenCreate, user: CurrentUser, session: SessionDep, response: Response
) -> TokenCreated:
    """Create a personal access token; its secret is in this response and never again."""
    token, secret = await session.run(service.create, user.id, data)
    response.headers["Location"] = f"/api/v1/tokens/{token.id}"
    response.headers["Cache-Control"] = "no-store"
    return TokenCreated(**TokenPublic.model_validate(token).model_dump(), token=secret)


@router.get(
    "/tokens",
    operation_id="tokens-list",
    response_model=Page[TokenPublic],
    responses=problem_responses(401, 403, 422),
)
async def list_tokens(
    user: CurrentUser,
    session: ReadSessionDep,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
) -> Page[TokenPublic]:
    """List your personal access tokens that are not revoked (never their secrets)."""
    rows, has_more, next_cursor = await session.run(
        service.list_, user.id, limit=limit, cursor=cursor
    )
    return Page[TokenPublic](
        data=[TokenPublic.model_validate(row) for row in rows],
        has_more=has_more,
        next_cursor=next_cursor,
    )


@router.get(
    "/tokens/{token_id}",
    operation_id="tokens-get",
    response_model=TokenPublic,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_token(token_id: uuid.UUID, user: CurrentUser, session: ReadSessionDep) -> TokenPublic:
    """One of your personal access tokens (never its secret)."""
    return TokenPublic.model_validate(await session.run(service.get, user.id, token_id))


@router.delete(
    "/tokens/{token_id}",
    operation_id="tokens-revoke",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
)
async def revoke_token(token_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Response:
    """Revoke a personal access token; it stops working at once."""
    await session.run(service.revoke, user.id, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
