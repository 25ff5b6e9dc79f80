"""The referrals resource: who gave you the lead to whom."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from app.accounts.deps import CurrentReader, CurrentUser, IfMatch, ReadSessionDep, SessionDep
from app.kit.api import API_PREFIX
from app.kit.problems import problem_responses, success_headers
from app.kit.queries import etag
from app.kit.schemas import Page, PageCursor, PageLimit
from app.referrals import service
from app.referrals.schemas import Referral, ReferralCreate, ReferralPublic, ReferralUpdate
from app.vocabulary import Relationship

router = APIRouter(prefix=API_PREFIX, tags=["referrals"])

ReferralId = Annotated[uuid.UUID, Path(description="The referral's id.")]


def _public(referral: Referral, response: Response) -> ReferralPublic:
    """The referral's public shape, with its ETag on the response."""
    response.headers["ETag"] = etag(referral.version)
    return ReferralPublic.model_validate(referral)


@router.post(
    "/referrals",
    operation_id="referrals-create",
    status_code=status.HTTP_201_CREATED,
    response_model=ReferralPublic,
    responses={**problem_responses(401, 409, 422), **success_headers(201, "ETag", "Location")},
)
async def create_referral(
    data: ReferralCreate,
    user: CurrentUser,
    session: SessionDep,
    request: Request,
    response: Response,
) -> ReferralPublic:
    """Record that one of your contacts referred you to another."""
    referral = await session.run(service.create, user.id, data)
    response.headers["Location"] = request.app.url_path_for("get_referral", referral_id=referral.id)
    return _public(referral, response)


@router.get(
    "/referrals",
    operation_id="referrals-list",
    response_model=Page[ReferralPublic],
    responses=problem_responses(401, 422),
)
async def list_referrals(
    user: CurrentReader,
    session: ReadSessionDep,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
    referrer_id: Annotated[
        uuid.UUID | None, Query(description="Only leads given by this contact.")
    ] = None,
    referred_id: Annotated[
        uuid.UUID | None, Query(description="Only leads to this contact.")
    ] = None,
    relationship: Annotated[
        Relationship | None, Query(description="Only referrers with this relationship.")
    ] = None,
) -> Page[ReferralPublic]:
    """List your referrals, newest first."""
    rows, has_more, next_cursor = await session.run(
        service.list_,
        user.id,
        limit=limit,
        cursor=cursor,
        referrer_id=referrer_id,
        referred_id=referred_id,
        relationship=relationship,
    )
    return Page[ReferralPublic](
        data=[ReferralPublic.model_validate(row) for row in rows],
        has_more=has_more,
        next_cursor=next_cursor,
    )


@router.get(
    "/referrals/{referral_id}",
    operation_id="referrals-get",
    response_model=ReferralPublic,
    responses={**problem_responses(401, 404, 422), **success_headers(200, "ETag")},
)
async def get_referral(
    referral_id: ReferralId, user: CurrentReader, session: ReadSessionDep, response: Response
) -> ReferralPublic:
    """Get one referral."""
    return _public(await session.run(service.get, user.id, referral_id), response)


@router.patch(
    "/referrals/{referral_id}",
    operation_id="referrals-update",
    response_model=ReferralPublic,
    responses={**problem_responses(401, 404, 409, 412, 422), **success_headers(200, "ETag")},
)
async def update_referral(
    referral_id: ReferralId,
    data: ReferralUpdate,
    user: CurrentUser,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> ReferralPublic:
    """Change a referral's relationship, notes or date (the pair itself is fixed)."""
    referral = await session.run(service.update_, user.id, referral_id, data, if_match=if_match)
    return _public(referral, response)


@router.delete(
    "/referrals/{referral_id}",
    operation_id="referrals-delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 404, 409, 412, 422),
)
async def delete_referral(
    referral_id: ReferralId, user: CurrentUser, session: SessionDep, if_match: IfMatch = None
) -> Response:
    """Delete a referral no interview came from."""
    await session.run(service.delete_, user.id, referral_id, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
