"""The webhook events as a catalogue: what each one's ``data`` is, for the OpenAPI document.

Every event is delivered as ``{"type", "timestamp", "data"}`` (Standard Webhooks); ``data`` is
the resource as the API answers it, frozen when the change was committed. Declared here, once,
the document's ``webhooks`` section gives every event its payload schema, so generators type
what a receiver gets. A new event type without an entry fails the suite (``tests/webhooks``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from app.contacts.schemas import ContactPublic
from app.interactions.schemas import InteractionPublic
from app.interviews.schemas import InterviewPublic, InterviewStateChanged
from app.letters.schemas import LetterPublic
from app.referrals.schemas import ReferralPublic
from app.webhooks.schemas import EventType

#: Each event's ``data``, and when it is sent.
EVENTS: dict[EventType, tuple[type[BaseModel], str]] = {
    EventType.CONTACT_CREATED: (ContactPublic, "A contact was created (also by an import)."),
    EventType.CONTACT_UPDATED: (ContactPublic, "A contact was changed."),
    EventType.REFERRAL_CREATED: (ReferralPublic, "A referral was recorded."),
    EventType.INTERVIEW_CREATED: (InterviewPublic, "An interview was planned."),
    EventType.INTERVIEW_STATE_CHANGED: (
        InterviewStateChanged,
        "An interview moved from one state to another.",
    ),
    EventType.LETTER_SENT: (LetterPublic, "A letter was sent (or recorded as sent)."),
    EventType.LETTER_DELIVERED: (LetterPublic, "The mail server accepted a letter's email."),
    EventType.LETTER_DELIVERY_FAILED: (
        LetterPublic,
        "A letter's email was refused for good; the letter is a draft again.",
    ),
    EventType.LETTER_REPLIED: (LetterPublic, "A reply to a letter came back by email."),
    EventType.INTERACTION_LOGGED: (InteractionPublic, "A call, meeting or message was logged."),
    EventType.INTERACTION_UPDATED: (InteractionPublic, "A logged interaction was changed."),
}

_REF = "#/components/schemas/{model}"
_SIGNATURE_HEADERS = {
    "webhook-id": "The event's id: the same on every retry; deduplicate on it.",
    "webhook-timestamp": "When this attempt was signed (Unix seconds).",
    "webhook-signature": "`v1,<base64 HMAC-SHA256>` of `id.timestamp.body` with the secret.",
}


def _operation(event: EventType, model: type[BaseModel], when: str) -> dict[str, Any]:
    name = model.__name__
    return {
        "post": {
            "operationId": "webhook-" + event.value.replace(".", "-").replace("_", "-"),
            "summary": when.rstrip("."),
            "tags": ["webhooks"],
            # No credential: the receiver authenticates the call by its signature headers.
            "security": [],
            "parameters": [
                {
                    "name": header,
                    "in": "header",
                    "required": True,
                    "description": description,
                    "schema": {"type": "string"},
                }
                for header, description in _SIGNATURE_HEADERS.items()
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "title": f"{name}Event",
                            "required": ["type", "timestamp", "data"],
                            "properties": {
                                "type": {"type": "string", "const": event.value},
                                "timestamp": {"type": "string", "format": "date-time"},
                                "data": {"$ref": _REF.format(model=name)},
                            },
                            "additionalProperties": False,
                        }
                    }
                },
            },
            "responses": {
                "2XX": {"description": "Received. Any other answer but 410 is retried."},
                "410": {"description": "Gone: the subscription is disabled, and never retried."},
            },
        }
    }


def declare_in_openapi(app: FastAPI) -> None:
    """Add the ``webhooks`` section (and the schemas it names) to the document."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for model, _ in EVENTS.values():
            if model.__name__ in schemas:
                continue
            schema = model.model_json_schema(ref_template=_REF, mode="serialization")
            for name, definition in schema.pop("$defs", {}).items():
                schemas.setdefault(name, definition)
            schemas[model.__name__] = schema
        document["webhooks"] = {
            event.value: _operation(event, model, when) for event, (model, when) in EVENTS.items()
        }
        return document

    app.openapi = openapi  # type: ignore[method-assign]
