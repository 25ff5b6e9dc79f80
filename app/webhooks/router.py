"""Webhook subscriptions: where events are sent, their signing secrets, the delivery log."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from app.accounts.deps import (
    CurrentReader,
    CurrentUser,
    IfMatch,
    ReadSessionDep,
    SessionDep,
    SettingsDep,
    ThreadSessionDep,
)
from app.kit.api import API_PREFIX
from app.kit.problems import problem_responses, success_headers
from app.kit.queries import etag
from app.kit.schemas import Page, PageCursor, PageLimit
from app.webhooks import service
from app.webhooks.schemas import (
    DeliveryStatus,
    WebhookCreate,
    WebhookDeliveryPublic,
    WebhookPublic,
    WebhookRotateSecret,
    WebhookSubscription,
    WebhookUpdate,
    WebhookWithSecret,
)

router = APIRouter(prefix=API_PREFIX, tags=["webhooks"])

WebhookId = Annotated[uuid.UUID, Path(description="The subscription's id.")]
DeliveryId = Annotated[uuid.UUID, Path(description="The delivery's id.")]


def _public(subscription: WebhookSubscription, response: Response) -> WebhookPublic:
    response.headers["ETag"] = etag(subscription.version)
    return WebhookPublic.model_validate(subscription)


def _with_secret(
    subscription: WebhookSubscription, secret: str, response: Response
) -> WebhookWithSecret:
    response.headers["ETag"] = etag(subscription.version)
    response.headers["Cache-Control"] = "no-store"
    public = WebhookPublic.model_validate(subscription).model_dump()
    return WebhookWithSecret.model_validate({**public, "secret": secret})


@router.post(
    "/webhooks",
    operation_id="webhooks-create",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookWithSecret,
    responses={**problem_responses(401, 409, 422), **success_headers(201, "ETag", "Location")},
)
async def create_webhook(
    data: WebhookCreate,
    user: CurrentUser,
    session: ThreadSessionDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> WebhookWithSecret:
    """Subscribe a URL to events; the signing secret is shown in this response only."""
    # Checking the URL resolves its host name: do it off the event loop.
    subscription, secret = await run_in_threadpool(service.create, session, settings, user.id, data)
    response.headers["Location"] = request.app.url_path_for(
        "get_webhook", webhook_id=subscription.id
    )
    return _with_secret(subscription, secret, response)


@router.get(
    "/webhooks",
    operation_id="webhooks-list",
    response_model=Page[WebhookPublic],
    responses=problem_responses(401, 422),
)
async def list_webhooks(
    user: CurrentReader, session: ReadSessionDep, limit: PageLimit = 20, cursor: PageCursor = None
) -> Page[WebhookPublic]:
    """List your webhook subscriptions, newest first."""
    rows, has_more, next_cursor = await session.run(
        service.list_, user.id, limit=limit, cursor=cursor
    )
    return Page[WebhookPublic](
        data=[WebhookPublic.model_validate(row) for row in rows],
        has_more=has_more,
        next_cursor=next_cursor,
    )


@router.get(
    "/webhooks/{webhook_id}",
    operation_id="webhooks-get",
    response_model=WebhookPublic,
    responses={**problem_responses(401, 404, 422), **success_headers(200, "ETag")},
)
async def get_webhook(
    webhook_id: WebhookId, user: CurrentReader, session: ReadSessionDep, response: Response
) -> WebhookPublic:
    """Get a webhook subscription (without its secret)."""
    return _public(await session.run(service.get, user.id, webhook_id), response)


@router.patch(
    "/webhooks/{webhook_id}",
    operation_id="webhooks-update",
    response_model=WebhookPublic,
    responses={**problem_responses(401, 404, 409, 412, 422), **success_headers(200, "ETag")},
)
async def update_webhook(
    webhook_id: WebhookId,
    data: WebhookUpdate,
    user: CurrentUser,
    session: ThreadSessionDep,
    settings: SettingsDep,
    response: Response,
    if_match: IfMatch = None,
) -> WebhookPublic:
    """Change a subscription's URL, event types, description or active flag."""
    subscription = await run_in_threadpool(
        lambda: service.update_(session, settings, user.id, webhook_id, data, if_match=if_match)
    )
    return _public(subscription, response)


@router.delete(
    "/webhooks/{webhook_id}",
    operation_id="webhooks-delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 404, 412, 422),
)
async def delete_webhook(
    webhook_id: WebhookId, user: CurrentUser, session: SessionDep, if_match: IfMatch = None
) -> Response:
    """Delete a subscription and its delivery log; nothing more is sent to it."""
    await session.run(service.delete_, user.id, webhook_id, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/webhooks/{webhook_id}/rotate-secret",
    operation_id="webhooks-rotate-secret",
    response_model=WebhookWithSecret,
    responses={**problem_responses(401, 404, 409, 412, 422), **success_headers(200, "ETag")},
)
async def rotate_webhook_secret(
    webhook_id: WebhookId,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    data: WebhookRotateSecret | None = None,
    if_match: IfMatch = None,
) -> WebhookWithSecret:
    """Issue a new signing secret (shown once); the old one signs too for a grace period."""
    subscription, secret = await session.run(
        service.rotate_secret,
        settings,
        user.id,
        webhook_id,
        data or WebhookRotateSecret(),
        if_match=if_match,
    )
    return _with_secret(subscription, secret, response)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    operation_id="webhooks-deliveries",
    response_model=Page[WebhookDeliveryPublic],
    responses=problem_responses(401, 404, 422),
)
async def list_webhook_deliveries(
    webhook_id: WebhookId,
    user: CurrentReader,
    session: ReadSessionDep,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
    delivery_status: Annotated[
        DeliveryStatus | None, Query(alias="status", description="Only deliveries in this status.")
    ] = None,
) -> Page[WebhookDeliveryPublic]:
    """List a subscription's deliveries, newest first, with the outcome of each."""
    rows, has_more, next_cursor = await session.run(
        service.list_deliveries,
        user.id,
        webhook_id,
        limit=limit,
        cursor=cursor,
        status=delivery_status,
    )
    return Page[WebhookDeliveryPublic](
        data=[WebhookDeliveryPublic.model_validate(row) for row in rows],
        has_more=has_more,
        next_cursor=next_cursor,
    )


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    operation_id="webhooks-redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=WebhookDeliveryPublic,
    responses=problem_responses(401, 404, 409, 422),
)
async def redeliver_webhook_delivery(
    webhook_id: WebhookId, delivery_id: DeliveryId, user: CurrentUser, session: SessionDep
) -> WebhookDeliveryPublic:
    """Send a delivery again now, with its original webhook-id."""
    delivery = await session.run(service.redeliver, user.id, webhook_id, delivery_id)
    return WebhookDeliveryPublic.model_validate(delivery)
