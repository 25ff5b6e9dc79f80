"""OpenAPI links: how what one operation returns feeds the operations that use it.

A create answers with the new resource; its ``id`` is the path parameter of the operations on
that resource, and its ``ETag`` is their ``If-Match``. Declaring this once, here, by operation
id, lets generated SDKs document the chain and lets stateful testers (Schemathesis) walk it:
create a contact, then read, change and delete it; create an interview for it, then its
checklist, transitions and events; write a letter, then send it.

``declare_in_openapi(app)`` adds the table to the document's responses, so a route only has to
keep its ``operation_id``. A link whose source or target operation is missing is left out of
the document, and the test suite fails on it (tests/test_schemathesis.py).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

Link = dict[str, Any]

_ID = "$response.body#/id"
_ETAG = "$response.header.ETag"


def _on(target: str, param: str, *, if_match: bool = False, description: str) -> Link:
    """A link that passes the response's ``id`` as ``param`` (and its ETag as If-Match)."""
    parameters = {param: _ID}
    if if_match:
        parameters["header.if-match"] = _ETAG
    return {"operationId": target, "parameters": parameters, "description": description}


def _body(target: str, body: dict[str, str], *, description: str) -> Link:
    """A link that fills fields of the target's request body from this response."""
    return {"operationId": target, "requestBody": body, "description": description}


def _crud(resource: str, param: str, noun: str) -> dict[str, Link]:
    """Read, change and delete the resource a response describes."""
    return {
        "get": _on(f"{resource}-get", param, description=f"Read this {noun}."),
        "update": _on(
            f"{resource}-update", param, if_match=True, description=f"Change this {noun}."
        ),
        "delete": _on(
            f"{resource}-delete", param, if_match=True, description=f"Delete this {noun}."
        ),
    }


_CONTACT = {
    **_crud("contacts", "contact_id", "contact"),
    "interview": _body(
        "interviews-create",
        {"contact_id": _ID},
        description="Ask this contact for an informational interview.",
    ),
    "letter": _body("letters-create", {"recipient_id": _ID}, description="Write to this contact."),
    "interviews": _on("interviews-list", "contact_id", description="This contact's interviews."),
}

_INTERVIEW = {
    "get": _on("interviews-get", "interview_id", description="Read this interview."),
    "checklist": _on(
        "interviews-get-checklist", "interview_id", description="Its preparation checklist."
    ),
    "update-checklist": _on(
        "interviews-update-checklist", "interview_id", description="Tick checklist items."
    ),
    "transitions": _on(
        "interviews-list-transitions",
        "interview_id",
        description="The states it can move to next, with what each still needs.",
    ),
    "transition": _on(
        "interviews-transition",
        "interview_id",
        if_match=True,
        description="Move it to the next state.",
    ),
    "events": _on("interviews-list-events", "interview_id", description="Its history."),
    "export": _on("interviews-export", "interview_id", description="Its write-up."),
    "export-markdown": _on(
        "interviews-export-markdown", "interview_id", description="Its write-up as Markdown."
    ),
    "export-json": _on(
        "interviews-export-json", "interview_id", description="Its write-up as JSON."
    ),
    "letter": _body(
        "letters-create",
        {"interview_id": _ID, "recipient_id": "$response.body#/contact_id"},
        description="Write to the interviewee about this interview.",
    ),
    "draft": _body(
        "letters-draft",
        {"interview_id": _ID, "recipient_id": "$response.body#/contact_id"},
        description="Draft a letter about this interview from a template.",
    ),
}

_LETTER = {
    **_crud("letters", "letter_id", "letter"),
    "send": _on("letters-send", "letter_id", if_match=True, description="Send this letter."),
}

_WEBHOOK = {
    **_crud("webhooks", "webhook_id", "subscription"),
    "rotate-secret": _on(
        "webhooks-rotate-secret",
        "webhook_id",
        if_match=True,
        description="Rotate its signing secret.",
    ),
    "deliveries": _on("webhooks-deliveries", "webhook_id", description="Its delivery log."),
}

_TEMPLATE_KIND = {"kind": "$request.path.kind"}
_TEMPLATE = {
    "get": {
        "operationId": "templates-get",
        "parameters": _TEMPLATE_KIND,
        "description": "Read this template.",
    },
    "delete": {
        "operationId": "templates-delete",
        "parameters": {**_TEMPLATE_KIND, "header.if-match": _ETAG},
        "description": "Go back to the built-in template.",
    },
}

# Source operation id -> the success statuses that carry the links -> link name -> link.
LINKS: dict[str, tuple[tuple[str, ...], dict[str, Link]]] = {
    "contacts-create": (("201",), _CONTACT),
    "contacts-upsert-by-external-id": (("200", "201"), _CONTACT),
    "contacts-update": (("200",), {"get": _CONTACT["get"], "delete": _CONTACT["delete"]}),
    "referrals-create": (
        ("201",),
        {
            **_crud("referrals", "referral_id", "referral"),
            "interview": _body(
                "interviews-create",
                {"contact_id": "$response.body#/referred_id", "referral_id": _ID},
                description="Ask the referred contact for an interview that came from this lead.",
            ),
        },
    ),
    "interviews-create": (
        ("201",),
        {
            **_INTERVIEW,
            "update": _on(
                "interviews-update", "interview_id", if_match=True, description="Change it."
            ),
            "delete": _on(
                "interviews-delete", "interview_id", if_match=True, description="Delete it."
            ),
        },
    ),
    "interviews-transition": (("200",), _INTERVIEW),
    "letters-create": (("201",), _LETTER),
    "letters-draft": (("201",), _LETTER),
    "letters-send": (
        ("200",),
        {"get": _LETTER["get"], "delete": _LETTER["delete"]},
    ),
    "webhooks-create": (("201",), _WEBHOOK),
    "tokens-create": (
        ("201",),
        {
            "get": _on("tokens-get", "token_id", description="Read this token."),
            "revoke": _on("tokens-revoke", "token_id", description="Revoke this token."),
        },
    ),
    "templates-put": (("200", "201"), _TEMPLATE),
}


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        operation["operationId"]: operation
        for item in document.get("paths", {}).values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }


def add_links(document: dict[str, Any]) -> list[str]:
    """Add ``LINKS`` to the responses of ``document`` in place; adding twice changes nothing.

    Returns the links that could not be placed (a source, status or target the document does
    not have); the test suite requires none, while the app itself serves what it can.
    """
    operations = _operations(document)
    missing: list[str] = []
    for source, (statuses, links) in LINKS.items():
        responses = operations.get(source, {}).get("responses", {})
        for status in statuses:
            if status not in responses:
                missing.append(f"{source} {status}")
                continue
            for name, link in links.items():
                if link["operationId"] not in operations:
                    missing.append(f"{source} {status} {name} -> {link['operationId']}")
                    continue
                responses[status].setdefault("links", {})[name] = copy.deepcopy(link)
    return missing


def declare_in_openapi(app: FastAPI) -> None:
    """Wrap ``app.openapi`` so the document carries the links."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        add_links(document)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = ["LINKS", "add_links", "declare_in_openapi"]
