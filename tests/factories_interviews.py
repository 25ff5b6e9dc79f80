"""Factories for interviews and for walking them through the workflow over HTTP.

- ``create_interview(client, user, **fields)`` — a new interview (a new contact unless
  ``contact_id`` is given); returns its JSON.
- ``complete_checklist(client, user, interview_id)`` — tick every item, with an opening text.
- ``send(client, user, kind, recipient_id, interview_id)`` — a letter drafted and sent through
  the letters API.
- ``transition(client, user, interview_id, to, **body)`` — the raw response of a move.
- ``prepared_interview(client, user)`` — an interview already in ``prepared``, scheduled in the
  past so that it can be held at once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient

from app.kit.db import utcnow
from tests.factories import User
from tests.factories_contacts import create_contact, create_referral

__all__ = [
    "complete_checklist",
    "create_contact",
    "create_interview",
    "create_referral",
    "past",
    "prepared_interview",
    "send",
    "transition",
]

FULL_CHECKLIST: dict[str, Any] = {
    "research": {"done": True},
    "website": {"done": True},
    "self_assessment": {"done": True},
    "opening_statement": {
        "done": True,
        "text": "I study accounting and want to learn how audit work feels day to day.",
    },
    "attire": {"done": True},
}


def past(hours: float = 1) -> str:
    """An RFC 3339 time ``hours`` ago."""
    return (utcnow() - timedelta(hours=hours)).isoformat()


def future(hours: float = 24) -> str:
    """An RFC 3339 time ``hours`` ahead."""
    return (utcnow() + timedelta(hours=hours)).isoformat()


def create_interview(client: TestClient, user: User, **fields: Any) -> dict[str, Any]:
    """Create an interview for ``user`` and return it; asserts 201."""
    if "contact_id" not in fields:
        fields["contact_id"] = create_contact(client, user)["id"]
    r = client.post("/api/v1/interviews", json=fields, headers=user.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def complete_checklist(client: TestClient, user: User, interview_id: str) -> httpx.Response:
    """Tick every checklist item (attire too) and write the opening statement."""
    r = client.patch(
        f"/api/v1/interviews/{interview_id}/checklist", json=FULL_CHECKLIST, headers=user.headers
    )
    assert r.status_code == 200, r.text
    return r


def send(
    client: TestClient,
    user: User,
    kind: str,
    recipient_id: str,
    interview_id: str,
    body: str = "Thank you for your time and for the advice on where to start.",
) -> dict[str, Any]:
    """A letter of ``kind`` to ``recipient_id`` for ``interview_id``, sent now."""
    r = client.post(
        "/api/v1/letters",
        json={
            "kind": kind,
            "recipient_id": recipient_id,
            "interview_id": interview_id,
            "subject": kind.replace("_", " ").capitalize(),
            "body": body,
            "channel": "email",
        },
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    r = client.post(f"/api/v1/letters/{r.json()['id']}/send", headers=user.headers)
    assert r.status_code == 200, r.text
    sent: dict[str, Any] = r.json()
    return sent


def transition(
    client: TestClient, user: User, interview_id: str, to: str, **body: Any
) -> httpx.Response:
    """POST a move and return the raw response (``headers=`` adds request headers)."""
    extra_headers = body.pop("headers", {})
    return client.post(
        f"/api/v1/interviews/{interview_id}/transitions",
        json={"to": to, **body},
        headers={**user.headers, **extra_headers},
    )


def prepared_interview(client: TestClient, user: User, **fields: Any) -> dict[str, Any]:
    """An interview walked to ``prepared``, scheduled an hour ago by default."""
    fields.setdefault("scheduled_at", past(1))
    interview = create_interview(client, user, **fields)
    send(client, user, "request", interview["contact_id"], interview["id"])
    complete_checklist(client, user, interview["id"])
    r = transition(client, user, interview["id"], "prepared")
    assert r.status_code == 200, r.text
    prepared: dict[str, Any] = r.json()
    return prepared
