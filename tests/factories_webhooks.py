"""Factories and helpers for webhook tests: subscriptions made through the API, and a
dispatcher bound to the test app's database."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from app.kit.config import Settings
from app.webhooks.dispatcher import Dispatcher
from tests.factories import User
from tests.webhook_receiver import Receiver

ALL_EVENTS = [
    "contact.created",
    "contact.updated",
    "referral.created",
    "interview.created",
    "interview.state_changed",
    "letter.sent",
    "interaction.logged",
    "interaction.updated",
]


def create_webhook(
    client: TestClient,
    user: User,
    url: str,
    event_types: list[str] | None = None,
    receiver: Receiver | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Subscribe ``url``; the body includes the secret. With ``receiver``, it learns the secret."""
    body: dict[str, Any] = {"url": url, "event_types": event_types or ALL_EVENTS, **fields}
    r = client.post("/api/v1/webhooks", json=body, headers=user.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    if receiver is not None:
        receiver.secrets.append(created["secret"])
    return created


def dispatcher_for(client: TestClient, settings: Settings, **overrides: Any) -> Dispatcher:
    """A dispatcher on the test app's engine, with settings overridden (e.g. the schedule)."""
    return Dispatcher(settings.model_copy(update=overrides), client.app.state.engine)  # type: ignore[attr-defined]


def deliveries(client: TestClient, user: User, webhook_id: str, **params: Any) -> list[Any]:
    """The delivery log of a subscription (first page)."""
    r = client.get(f"/api/v1/webhooks/{webhook_id}/deliveries", params=params, headers=user.headers)
    assert r.status_code == 200, r.text
    data: list[Any] = r.json()["data"]
    return data
