"""Webhook subscriptions, their signing secrets, and the delivery log.

Every function takes the caller's ``owner_id`` and sees only that user's rows. Subscription
writes bump ``version`` with a compare-and-set, like every other resource.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from sqlmodel import Session

from app.kit import secret_box
from app.kit.config import Settings
from app.kit.db import new_id, utcnow
from app.kit.errors import Conflict, NotFound
from app.kit.queries import check_if_match, optimistic_write
from app.webhooks import urls
from app.webhooks.repository import DeliveryRepository, SubscriptionRepository
from app.webhooks.schemas import (
    DeliveryStatus,
    EventType,
    WebhookCreate,
    WebhookDelivery,
    WebhookRotateSecret,
    WebhookSubscription,
    WebhookUpdate,
)

# A user's endpoints are fanned out to on every event; keep the fan-out bounded.
MAX_SUBSCRIPTIONS = 25
SECRET_PREFIX = "whsec_"
_SECRET_BYTES = 32


def new_secret() -> str:
    """A signing secret in the form ``standardwebhooks.Webhook`` accepts: ``whsec_`` + base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def get(session: Session, owner_id: uuid.UUID, webhook_id: uuid.UUID) -> WebhookSubscription:
    """The caller's subscription, or a 404 ``webhook_not_found``."""
    return SubscriptionRepository(session).get(owner_id, webhook_id)


def list_(
    session: Session, owner_id: uuid.UUID, *, limit: int, cursor: str | None = None
) -> tuple[Sequence[WebhookSubscription], bool, str | None]:
    """One page of the caller's subscriptions, newest first."""
    return SubscriptionRepository(session).page(owner_id, limit=limit, cursor=cursor)


def _event_types(types: Sequence[EventType]) -> list[str]:
    """The subscribed types as stored: plain strings, each once, in the order given."""
    return list(dict.fromkeys(t.value for t in types))


def create(
    session: Session, settings: Settings, owner_id: uuid.UUID, data: WebhookCreate
) -> tuple[WebhookSubscription, str]:
    """Subscribe a URL to events; return the row and its new secret (stored only sealed).

    The URL must be http(s) (422 ``invalid_webhook_url``) and reach a public address (422
    ``webhook_url_not_allowed``); at most ``MAX_SUBSCRIPTIONS`` per user (409
    ``webhook_limit_reached``). Resolves the host name, so call it off the event loop.
    """
    urls.validate(data.url, allow_private=settings.webhook_allow_private)
    subscriptions = SubscriptionRepository(session)
    if subscriptions.count(owner_id) >= MAX_SUBSCRIPTIONS:
        raise Conflict(
            f"You already have {MAX_SUBSCRIPTIONS} webhook subscriptions; delete one first.",
            code="webhook_limit_reached",
        )
    webhook_id, secret = new_id(), new_secret()
    subscription = WebhookSubscription(
        id=webhook_id,
        owner_id=owner_id,
        url=data.url,
        event_types=_event_types(data.event_types),
        description=data.description,
        active=data.active,
        secret=secret_box.seal(settings.secret_key, webhook_id, secret),
    )
    subscriptions.add(subscription)
    session.commit()
    return subscription, secret


def _write(
    session: Session,
    owner_id: uuid.UUID,
    webhook_id: uuid.UUID,
    if_match: str | None,
    values_for: Callable[[WebhookSubscription], dict[str, Any]],
) -> WebhookSubscription:
    """Apply ``values_for(row)`` under optimistic concurrency; one commit.

    Without ``If-Match`` a lost race re-reads and tries again; with it, it is a 412.
    """
    subscriptions = SubscriptionRepository(session)

    def attempt() -> WebhookSubscription:
        subscription = subscriptions.get(owner_id, webhook_id)
        check_if_match(if_match, subscription.version)
        values = values_for(subscription)
        if not values:
            return subscription
        subscriptions.compare_and_set(subscription.id, subscription.version, **values)
        session.commit()
        subscriptions.refresh(subscription)
        return subscription

    return optimistic_write(session, attempt, if_match=if_match, what="webhook")


def update_(
    session: Session,
    settings: Settings,
    owner_id: uuid.UUID,
    webhook_id: uuid.UUID,
    data: WebhookUpdate,
    *,
    if_match: str | None = None,
) -> WebhookSubscription:
    """Change the fields sent. Re-activating clears ``disabled_reason``.

    A new URL is checked like on create, so call it off the event loop.
    """
    values = data.model_dump(exclude_unset=True)
    if "url" in values:
        urls.validate(values["url"], allow_private=settings.webhook_allow_private)
    if "event_types" in values:
        values["event_types"] = _event_types(data.event_types)

    def values_for(subscription: WebhookSubscription) -> dict[str, Any]:
        changed = {k: v for k, v in values.items() if getattr(subscription, k) != v}
        if changed.get("active") is True:
            changed["disabled_reason"] = None
        return changed

    return _write(session, owner_id, webhook_id, if_match, values_for)


def delete_(
    session: Session, owner_id: uuid.UUID, webhook_id: uuid.UUID, *, if_match: str | None = None
) -> None:
    """Delete a subscription and its delivery log; nothing more is sent to it."""
    subscriptions = SubscriptionRepository(session)

    def attempt() -> None:
        subscription = subscriptions.get(owner_id, webhook_id)
        check_if_match(if_match, subscription.version)
        # The delivery log goes with it, by ON DELETE CASCADE.
        subscriptions.compare_and_delete(webhook_id, subscription.version)
        session.commit()
        session.expunge(subscription)

    optimistic_write(session, attempt, if_match=if_match, what="webhook")


def rotate_secret(
    session: Session,
    settings: Settings,
    owner_id: uuid.UUID,
    webhook_id: uuid.UUID,
    data: WebhookRotateSecret,
    *,
    if_match: str | None = None,
) -> tuple[WebhookSubscription, str]:
    """Issue a new secret. The old one keeps signing alongside it for the grace period.

    Returns the row and the new secret (stored only sealed).
    """
    grace = timedelta(seconds=data.previous_secret_grace_seconds)
    issued: list[str] = []

    def values_for(subscription: WebhookSubscription) -> dict[str, Any]:
        keep_old = grace > timedelta(0)
        issued.append(new_secret())
        return {
            "secret": secret_box.seal(settings.secret_key, subscription.id, issued[-1]),
            # Still sealed: the previous secret is moved, never opened here.
            "previous_secret": subscription.secret if keep_old else None,
            "previous_secret_expires_at": utcnow() + grace if keep_old else None,
        }

    subscription = _write(session, owner_id, webhook_id, if_match, values_for)
    return subscription, issued[-1]


def list_deliveries(
    session: Session,
    owner_id: uuid.UUID,
    webhook_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None = None,
    status: DeliveryStatus | None = None,
) -> tuple[Sequence[WebhookDelivery], bool, str | None]:
    """One page of a subscription's delivery log, newest first."""
    SubscriptionRepository(session).get(owner_id, webhook_id)
    return DeliveryRepository(session).page(
        owner_id, webhook_id, limit=limit, cursor=cursor, status=status
    )


def redeliver(
    session: Session, owner_id: uuid.UUID, webhook_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    """Schedule a new attempt of a delivery now, whatever its status.

    The event goes out with its original ``webhook-id``, so receivers can tell a repeat. If
    that attempt fails, the retry schedule continues from the attempts already made. A
    delivery being sent right now is a 409 ``delivery_in_progress``; one to an inactive
    subscription is a 409 ``webhook_inactive``.
    """
    subscription = SubscriptionRepository(session).get(owner_id, webhook_id)
    deliveries = DeliveryRepository(session)
    delivery = deliveries.find(delivery_id)
    if delivery is None or delivery.subscription_id != subscription.id:
        raise NotFound(f"No delivery with id {delivery_id}.", code="delivery_not_found")
    if not subscription.active:
        raise Conflict(
            "The webhook is inactive; activate it before redelivering.", code="webhook_inactive"
        )
    if not deliveries.reschedule_now(delivery.id, utcnow()):
        session.rollback()
        raise Conflict(
            "This delivery is being attempted right now; look at the log again shortly.",
            code="delivery_in_progress",
        )
    session.commit()
    deliveries.refresh(delivery)
    return delivery
