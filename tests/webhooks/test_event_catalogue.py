"""Every webhook event is in the document's ``webhooks`` section, and what the outbox really
sends validates against the schema published for it."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.events import EVENTS
from app.webhooks.schemas import EventType, OutboxEvent
from tests.factories import register
from tests.factories_contacts import create_contact, create_referral
from tests.factories_interviews import (
    complete_checklist,
    create_interview,
    future,
    send,
    transition,
)


def test_every_event_type_has_its_payload_schema(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert set(EVENTS) == set(EventType)
    assert set(document["webhooks"]) == {event.value for event in EventType}


def _validator(document: dict[str, Any], event: str) -> Any:
    schema = document["webhooks"][event]["post"]["requestBody"]["content"]["application/json"]
    # The components travel with the schema, so its #/components/... references resolve.
    root = {**schema["schema"], "components": document["components"]}
    return jsonschema_rs.Draft202012Validator(root, validate_formats=True)


def test_what_the_outbox_sends_matches_the_published_schemas(client: TestClient) -> None:
    user = register(client)
    referrer = create_contact(client, user, full_name="Ana Referrer")
    contact = create_contact(client, user, full_name="Ben Interviewee")
    referral = create_referral(client, user, referrer["id"], contact["id"])
    interview = create_interview(
        client, user, contact_id=contact["id"], referral_id=referral["id"], scheduled_at=future()
    )
    complete_checklist(client, user, interview["id"])
    send(client, user, "request", contact["id"], interview["id"])
    assert transition(client, user, interview["id"], "prepared").status_code == 200
    r = client.patch(
        f"/api/v1/contacts/{contact['id']}",
        headers={
            **user.headers,
            "If-Match": client.get(
                f"/api/v1/contacts/{contact['id']}", headers=user.headers
            ).headers["etag"],
        },
        json={"organization": "Acme"},
    )
    assert r.status_code == 200, r.text

    document = client.get("/openapi.json").json()
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        payloads = [json.loads(row.payload) for row in session.exec(select(OutboxEvent)).all()]
    seen = {payload["type"] for payload in payloads}
    assert {
        "contact.created",
        "contact.updated",
        "referral.created",
        "interview.created",
        "interview.state_changed",
        "letter.sent",
    } <= seen
    for payload in payloads:
        errors = [e.message for e in _validator(document, payload["type"]).iter_errors(payload)]
        assert not errors, (payload["type"], errors)
    # And the schemas bite: a payload without its resource is refused.
    first = payloads[0]
    assert list(_validator(document, first["type"]).iter_errors({**first, "data": {}}))
