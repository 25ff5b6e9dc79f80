"""The process end to end through the API, against a real SMTP server.

The request is emailed; no reply comes, so the agenda says to call; a reached call is logged;
the interview is prepared and held; the thank-you is emailed with the time in the
interviewee's zone; the referrer gets the report; the decision is to pursue, and the feeler
goes out with the résumé attached. Every message that arrived is checked, and a reply posted to
the inbound address lands on the request it answers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.factories import User
from tests.mail.conftest import Inbox
from tests.mail.test_inbound import reply
from tests.mail.test_mail_delivery import sender

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def test_the_whole_process_with_real_mail(client: TestClient, user: User, inbox: Inbox) -> None:
    h = user.headers
    ok(client.patch("/api/v1/me", json={"time_zone": "America/New_York"}, headers=h))
    sam = ok(
        client.post(
            "/api/v1/contacts",
            json={"full_name": "Sam Ortiz", "email": "sam@example.com"},
            headers=h,
        ),
        201,
    )
    dana = ok(
        client.post(
            "/api/v1/contacts",
            json={
                "full_name": "Dana Schäfer",
                "email": "dana@example.de",
                "phone": "+49 30 5550 1200",
                "time_zone": "Europe/Berlin",
            },
            headers=h,
        ),
        201,
    )
    referral = ok(
        client.post(
            "/api/v1/referrals",
            json={"referrer_id": sam["id"], "referred_id": dana["id"], "relationship": "colleague"},
            headers=h,
        ),
        201,
    )
    interview = ok(
        client.post(
            "/api/v1/interviews",
            json={
                "contact_id": dana["id"],
                "referral_id": referral["id"],
                "mode": "video",
                "duration_minutes": 30,
            },
            headers=h,
        ),
        201,
    )
    path = f"/api/v1/interviews/{interview['id']}"

    def letter(kind: str, recipient: dict[str, Any], **fields: Any) -> dict[str, Any]:
        body = {"kind": kind, "recipient_id": recipient["id"], "interview_id": interview["id"]}
        drafted = ok(client.post("/api/v1/letters/draft", json=body, headers=h), 201)
        if fields:
            drafted = ok(client.patch(f"/api/v1/letters/{drafted['id']}", json=fields, headers=h))
        queued = ok(client.post(f"/api/v1/letters/{drafted['id']}/send", headers=h))
        assert queued["delivery_status"] == "queued"
        assert sender(client).run_once() == ["delivered"]
        sent = ok(client.get(f"/api/v1/letters/{drafted['id']}", headers=h))
        assert (sent["status"], sent["delivery_status"]) == ("sent", "delivered")
        arrived = inbox.messages()[-1]
        assert arrived["Message-ID"].strip() == sent["message_id"]
        assert arrived["To"].addresses[0].addr_spec == recipient["email"]
        return sent

    def move(to: str) -> None:
        ok(client.post(f"{path}/transitions", json={"to": to}, headers=h))

    # The request, emailed.
    request = letter("request", dana)
    assert "Dana Schäfer" in inbox.messages()[0].get_content()

    # No reply: the agenda says to call, with the number.
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat().replace("+00:00", "Z")
    agenda = ok(client.get("/api/v1/agenda", params={"due_before": later}, headers=h))
    [follow_up] = [i for i in agenda["data"] if i["kind"] == "follow_up"]
    assert (follow_up["action"], follow_up["phone"]) == ("call", dana["phone"])

    # A reached call is logged: the follow-up is done.
    ok(
        client.post(
            "/api/v1/interactions",
            json={
                "contact_id": dana["id"],
                "interview_id": interview["id"],
                "kind": "call",
                "direction": "outbound",
                "outcome": "reached",
            },
            headers=h,
        ),
        201,
    )
    # On the call they agreed a time (it has just begun): nothing left to follow up.
    scheduled = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    at = scheduled.isoformat().replace("+00:00", "Z")
    ok(client.patch(path, json={"scheduled_at": at}, headers=h))
    agenda = ok(client.get("/api/v1/agenda", params={"due_before": later}, headers=h))
    assert [i for i in agenda["data"] if i["kind"] == "follow_up"] == []

    # Her emailed answer to the request, posted by the mail provider, lands on that letter.
    inbound_url = ok(client.post("/api/v1/mail/inbound", headers=h), 201)["url"]
    answered = ok(
        client.post(
            inbound_url.removeprefix("http://testserver"),
            content=reply(request, "dana@example.de", "Gern — passt es am Donnerstag?"),
            headers={"Content-Type": "message/rfc822"},
        )
    )
    assert (answered["matched"], answered["letter_id"]) == (True, request["id"])

    ok(
        client.patch(
            f"{path}/checklist",
            json={
                "research": {"done": True, "note": "Read their engineering blog."},
                "website": {"done": True},
                "self_assessment": {"done": True},
                "opening_statement": {
                    "done": True,
                    "text": "I build reporting tools and want to learn how data teams work.",
                },
            },
            headers=h,
        )
    )
    move("prepared")
    move("held")
    # The thank-you names the day as Dana's calendar in Berlin has it.
    letter("thank_you", dana)
    berlin = datetime.now(ZoneInfo("Europe/Berlin"))
    day = f"{berlin.day} {berlin:%B} {berlin.year}"
    assert day in str(inbox.messages()[-1]["Subject"])
    assert day in inbox.messages()[-1].get_content()
    move("thanked")
    letter("report_back", sam)
    move("reported-back")

    # The decision to pursue, and the feeler with the résumé attached.
    ok(client.patch(path, json={"decision": "pursue"}, headers=h))
    resume = ok(
        client.post(
            "/api/v1/documents",
            files={"file": ("Zoë CV.pdf", PDF, "application/pdf")},
            data={"kind": "resume"},
            headers=h,
        ),
        201,
    )
    feeler = letter("feeler", dana, attachment_ids=[resume["id"]])
    assert feeler["attachment_ids"] == [resume["id"]]
    [attachment] = list(inbox.messages()[-1].iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_payload(decode=True) == PDF

    # Four letters left, to the right people, in order.
    assert [e.rcpt_tos for e in inbox.received] == [
        ["dana@example.de"],
        ["dana@example.de"],
        ["sam@example.com"],
        ["dana@example.de"],
    ]
