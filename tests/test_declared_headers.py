"""The headers a successful answer carries are the ones the document declares for it.

One account's whole workflow runs through the app — contacts, a referral, an interview from
request to report-back, letters, a template, an interaction, a document, a webhook, a token,
the workflow document and the calendar feed, each created, read, changed and read again
conditionally — and every answer is held against its operation in the document: each header
declared as required is sent (``ETag``, ``Location``, ``Last-Modified``), and each of those
three that is sent is declared.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.factories import register
from tests.factories_exports import TEMPLATE, ok, rich_account
from tests.factories_webhooks import create_webhook
from tests.oauth.helpers import register_app

WATCHED = ("ETag", "Location", "Last-Modified")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _operations(document: dict[str, Any]) -> list[tuple[str, re.Pattern[str], str]]:
    """(method, path pattern, path template), literal paths before templated ones (a test path
    holds no ``/`` inside a parameter)."""
    found = []
    for template, item in document["paths"].items():
        pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(template))
        for method in item:
            found.append((method.upper(), re.compile(f"^{pattern}$"), template))
    # /contacts/export before /contacts/{contact_id}
    return sorted(found, key=lambda entry: entry[2].count("{"))


def _walk(client: TestClient) -> None:
    """Every operation that answers with one of the watched headers, at least once."""
    user = register(client)
    h = user.headers
    account = rich_account(client, user)
    jane, referral, interview = account["jane"], account["referral"], account["interview"]
    contact = client.get(f"/api/v1/contacts/{jane['id']}", headers=h)
    ok(contact)
    ok(
        client.patch(
            f"/api/v1/contacts/{jane['id']}",
            json={"title": "Partner"},
            headers={**h, "If-Match": contact.headers["ETag"]},
        )
    )
    for source_id, status in (("p-1", 200), ("p-2", 201)):
        ok(
            client.put(
                f"/api/v1/contacts/by-external-id/crm/{source_id}",
                json={"full_name": "Pushed Again"},
                headers=h,
            ),
            status,
        )
    ok(client.get(f"/api/v1/referrals/{referral['id']}", headers=h))
    ok(
        client.patch(
            f"/api/v1/referrals/{referral['id']}", json={"notes": "Old colleagues"}, headers=h
        )
    )
    iid = interview["id"]
    ok(client.get(f"/api/v1/interviews/{iid}/checklist", headers=h))
    ok(client.get(f"/api/v1/interviews/{iid}/transitions", headers=h))
    ok(client.patch(f"/api/v1/interviews/{iid}", json={"advice": "Network early."}, headers=h))
    letters = ok(client.get("/api/v1/letters", headers=h))["data"]
    unsent = next(letter for letter in letters if letter["status"] == "draft")
    ok(client.get(f"/api/v1/letters/{unsent['id']}", headers=h))
    ok(client.patch(f"/api/v1/letters/{unsent['id']}", json={"subject": "Hello"}, headers=h))
    ok(client.get("/api/v1/templates/keep_in_touch", headers=h))
    ok(client.put("/api/v1/templates/keep_in_touch", json={"source": TEMPLATE}, headers=h))
    draft = {"kind": "keep_in_touch", "recipient_id": jane["id"]}
    ok(client.post("/api/v1/letters/draft", json=draft, headers=h), 201)
    leads = {"leads": [{"contact": {"full_name": "Sam Lee", "organization": "Acme Audit"}}]}
    ok(client.post(f"/api/v1/interviews/{iid}/leads", json=leads, headers=h), 201)
    register_app(client, user)
    logged = ok(
        client.post(
            "/api/v1/interactions",
            json={"contact_id": jane["id"], "kind": "call", "direction": "outbound"},
            headers=h,
        ),
        201,
    )
    ok(client.get(f"/api/v1/interactions/{logged['id']}", headers=h))
    ok(client.patch(f"/api/v1/interactions/{logged['id']}", json={"notes": "Short"}, headers=h))
    document = ok(
        client.post(
            "/api/v1/documents",
            files={"file": ("cv.pdf", PDF, "application/pdf")},
            data={"kind": "resume"},
            headers=h,
        ),
        201,
    )
    ok(client.get(f"/api/v1/documents/{document['id']}", headers=h))
    assert client.get(f"/api/v1/documents/{document['id']}/content", headers=h).status_code == 200
    hook = create_webhook(client, user, "https://hooks.example.com/infoview")
    ok(client.get(f"/api/v1/webhooks/{hook['id']}", headers=h))
    ok(client.patch(f"/api/v1/webhooks/{hook['id']}", json={"description": "CRM"}, headers=h))
    ok(client.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret", headers=h))
    ok(
        client.post(
            "/api/v1/tokens", json={"name": "sync", "scopes": ["contacts:read"]}, headers=h
        ),
        201,
    )
    workflow = client.get("/api/v1/workflow", headers=h)
    ok(workflow)
    again = client.get("/api/v1/workflow", headers={**h, "If-None-Match": workflow.headers["ETag"]})
    assert again.status_code == 304
    token = ok(client.post("/api/v1/calendar/token", headers=h))["token"]
    calendar = client.get("/api/v1/calendar.ics", params={"token": token})
    assert calendar.status_code == 200, calendar.text
    unchanged = client.get(
        "/api/v1/calendar.ics",
        params={"token": token},
        headers={"If-None-Match": calendar.headers["ETag"]},
    )
    assert unchanged.status_code == 304


def test_successful_answers_carry_what_the_document_declares(client: TestClient) -> None:
    answers: list[httpx.Response] = []
    client.event_hooks["response"].append(answers.append)
    _walk(client)
    document = client.app.openapi()  # type: ignore[attr-defined]
    operations = _operations(document)
    checked: set[tuple[str, str, int]] = set()
    for response in answers:
        method, path, status = (
            response.request.method,
            response.request.url.path,
            response.status_code,
        )
        if not path.startswith("/api/v1/") or not (200 <= status < 300 or status == 304):
            continue
        template = next(t for m, pattern, t in operations if m == method and pattern.match(path))
        declared = document["paths"][template][method.lower()]["responses"][str(status)]
        headers = declared.get("headers", {})
        for name in WATCHED:
            where = f"{method} {template} {status}"
            if name in response.headers:
                assert name in headers, f"{where} sends {name} but does not declare it"
                reference = headers[name]["$ref"].rsplit("/", 1)[-1]
                pattern = document["components"]["headers"][reference]["schema"].get("pattern")
                value = response.headers[name]
                assert pattern is None or re.match(pattern, value), f"{where} {name}: {value}"
            elif name in headers:
                reference = headers[name]["$ref"].rsplit("/", 1)[-1]
                required = document["components"]["headers"][reference].get("required")
                assert not required, f"{where} declares {name} but did not send it"
        checked.add((method, template, status))
    declaring = {
        (method.upper(), template, int(status))
        for template, item in document["paths"].items()
        for method, operation in item.items()
        for status, answer in operation["responses"].items()
        if status.isdigit() and answer.get("headers", {}).keys() & set(WATCHED)
    }
    assert not declaring - checked, f"not exercised: {sorted(declaring - checked)}"
