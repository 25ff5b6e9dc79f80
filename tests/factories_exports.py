"""A rich account built through the API, for the export and import tests.

``rich_account(client, user)`` gives ``user`` contacts (one archived, one pushed by another
platform), a referral, an interview walked all the way to ``reported-back`` (questions, advice,
next steps, a complete checklist, sent request, thank-you and report-back letters), a cancelled
interview, one still at ``request`` with a draft letter, a keep-in-touch letter and a template
of their own. Returns the ids and bodies the tests look at.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.factories import User
from tests.factories_contacts import create_contact, create_referral
from tests.factories_interviews import (
    complete_checklist,
    create_interview,
    past,
    send,
    transition,
)

QUESTIONS = [
    {"question": "What does a typical day look like?", "answer": "Client calls, then audits."},
    {"question": "How did you get started?", "answer": "An internship in my third year."},
    {"question": "Which skills matter most?", "answer": None},
]
TEMPLATE = (
    "Subject: Hello again, {{ contact.first_name }}\n\n"
    "Dear {{ contact.full_name }},\n\nI hope all is well.\n\nBest,\n{{ user.email }}\n"
)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def rich_account(client: TestClient, user: User) -> dict[str, Any]:
    h = user.headers
    jane = create_contact(
        client,
        user,
        full_name="Jane Doe",
        email="jane@example.com",
        organization="Acme Audit",
        title="Audit Manager",
        career_field="accounting",
        tags=["mentor", "audit"],
        keep_in_touch_days=90,
        notes="Met at the spring career fair.",
    )
    bob = create_contact(client, user, full_name="Bob Smith", email="bob@example.com")
    create_contact(client, user, full_name="Old Friend", archived=True)
    create_contact(client, user, full_name="Pushed", external_id="p-1", source="crm")
    referral = create_referral(
        client,
        user,
        bob["id"],
        jane["id"],
        "colleague",
        notes="Bob worked with Jane",
        referred_on="2026-10-01",
    )
    interview = create_interview(
        client,
        user,
        contact_id=jane["id"],
        referral_id=referral["id"],
        scheduled_at=past(3),
        duration_minutes=30,
        location="Acme Audit, 5th floor",
        career_field="accounting",
        organization="Acme Audit",
        questions=QUESTIONS,
        advice="Take the CPA exam early.",
        next_steps="Read the AICPA newsletter; call Jane's colleague Sam.",
        decision="pursue",
        external_id="iv-1",
        source="crm",
    )
    iid = interview["id"]
    send(client, user, "request", jane["id"], iid)
    complete_checklist(client, user, iid)
    for to, body in (("prepared", {}), ("held", {"held_at": past(2)}), ("thanked", {})):
        if to == "thanked":
            send(client, user, "thank_you", jane["id"], iid)
        ok(transition(client, user, iid, to, **body))
    send(client, user, "report_back", bob["id"], iid, body="Jane was generous with her time.")
    ok(transition(client, user, iid, "reported-back"))

    cancelled = create_interview(client, user, contact_id=bob["id"], mode="phone")
    ok(transition(client, user, cancelled["id"], "cancelled", reason="Bob moved abroad"))
    pending = create_interview(client, user, mode="video", scheduled_at=past(-48))
    ok(
        client.post(
            "/api/v1/letters",
            json={
                "kind": "request",
                "recipient_id": pending["contact_id"],
                "interview_id": pending["id"],
                "subject": "A short conversation?",
                "body": "Could we talk for twenty minutes about your work in design?",
            },
            headers=h,
        ),
        201,
    )
    ok(
        client.post(
            "/api/v1/letters",
            json={"kind": "keep_in_touch", "recipient_id": bob["id"], "channel": "postal"},
            headers=h,
        ),
        201,
    )
    r = client.put("/api/v1/templates/keep_in_touch", json={"source": TEMPLATE}, headers=h)
    assert r.status_code in (200, 201), r.text
    return {
        "jane": jane,
        "bob": bob,
        "referral": referral,
        "interview": ok(client.get(f"/api/v1/interviews/{iid}", headers=h)),
    }
