"""Letters really emailed: a real SMTP server (aiosmtpd) beside the test, on both databases.

The server-wide relay and a user's own mailbox; what arrives, header by header and byte by
byte where it matters; a server that refuses (5xx) and one that is busy (4xx) or down, then up;
the letter closed to changes while queued; a crash between the commit and the send (nothing
lost, nothing sent twice); the password sealed at rest; the test endpoint.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.kit.db import utcnow
from app.mail.schemas import MailAccount, MailMessage
from app.mail.sender import MailSender
from app.webhooks.schemas import OutboxEvent
from tests.factories import User, assert_problem, register
from tests.factories_letters import create_letter, make_contact
from tests.mail.conftest import RELAY_FROM, Inbox, Server


def sender(client: TestClient) -> MailSender:
    return MailSender(client.app.state.settings, client.app.state.engine)  # type: ignore[attr-defined]


def letter_to(client: TestClient, user: User, **fields: Any) -> dict[str, Any]:
    contact = make_contact(client, user, full_name="José Núñez", email="jose@example.com")
    fields.setdefault("subject", "Une question — 20 minutes?")
    fields.setdefault("body", "Dear José,\n\nWould you share how you came to this work? — Zoë")
    return create_letter(client, user, recipient_id=contact["id"], **fields)


def send(client: TestClient, user: User, letter: dict[str, Any], **params: Any) -> Any:
    return client.post(f"/api/v1/letters/{letter['id']}/send", params=params, headers=user.headers)


def events(client: TestClient, user: User, kind: str) -> int:
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        rows = session.exec(
            select(OutboxEvent).where(
                OutboxEvent.owner_id == uuid.UUID(user.id), OutboxEvent.type == kind
            )
        ).all()
    return len(rows)


def test_a_letter_sent_by_email_arrives_through_the_relay_as_written(
    client: TestClient, user: User, inbox: Inbox
) -> None:
    letter = letter_to(client, user)
    r = send(client, user, letter)  # email is the default where mail is set up
    assert r.status_code == 200, r.text
    queued = r.json()
    assert (queued["status"], queued["delivery"], queued["delivery_status"]) == (
        "draft",
        "email",
        "queued",
    )
    assert inbox.received == []  # nothing leaves inside the request
    assert sender(client).run_once() == ["delivered"]
    [envelope] = inbox.received
    assert envelope.mail_from == RELAY_FROM
    assert envelope.rcpt_tos == ["jose@example.com"]
    [message] = inbox.messages()
    assert message["From"].addresses[0].display_name == "Zoë Ångström"
    assert message["From"].addresses[0].addr_spec == RELAY_FROM
    assert message["Reply-To"].addresses[0].addr_spec == user.email
    assert message["To"].addresses[0].display_name == "José Núñez"
    assert str(message["Subject"]) == "Une question — 20 minutes?"
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message.get_content().replace("\r\n", "\n") == letter["body"] + "\n"
    raw = envelope.original_content
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n")[0]  # non-ASCII headers encoded, never raw
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    after = client.get(f"/api/v1/letters/{letter['id']}", headers=user.headers).json()
    assert (after["status"], after["delivery_status"]) == ("sent", "delivered")
    assert after["message_id"] == message["Message-ID"].strip()
    assert after["sent_at"] is not None
    assert events(client, user, "letter.delivered") == 1
    assert events(client, user, "letter.sent") == 1
    assert sender(client).run_once() == []  # sent once


def test_a_queued_letter_is_closed_to_changes(client: TestClient, user: User) -> None:
    letter = letter_to(client, user)
    send(client, user, letter)
    r = client.patch(
        f"/api/v1/letters/{letter['id']}", json={"body": "changed"}, headers=user.headers
    )
    assert_problem(r, 409, "letter_queued")
    assert_problem(send(client, user, letter), 409, "letter_queued")


def test_record_still_marks_a_letter_sent_without_mail(
    client: TestClient, user: User, inbox: Inbox
) -> None:
    letter = letter_to(client, user)
    r = send(client, user, letter, delivery="record")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["delivery"]) == ("sent", "record")
    assert sender(client).run_once() == []
    assert inbox.received == []


def test_a_permanent_refusal_makes_the_letter_a_draft_again_with_the_reason(
    client: TestClient, user: User, inbox: Inbox
) -> None:
    letter = letter_to(client, user)
    send(client, user, letter)
    inbox.replies = ["554 5.7.1 Message rejected as spam"]
    assert sender(client).run_once() == ["failed"]
    after = client.get(f"/api/v1/letters/{letter['id']}", headers=user.headers).json()
    assert (after["status"], after["delivery_status"]) == ("draft", "failed")
    assert "554" in after["delivery_error"] and "spam" in after["delivery_error"]
    assert events(client, user, "letter.delivery_failed") == 1
    # A draft again: it can be changed and sent once more.
    r = client.patch(
        f"/api/v1/letters/{letter['id']}", json={"body": "Kinder words."}, headers=user.headers
    )
    assert r.status_code == 200, r.text
    assert send(client, user, letter).status_code == 200
    assert sender(client).run_once() == ["delivered"]
    assert len(inbox.received) == 1


def test_a_busy_server_is_tried_again_later_and_a_server_down_then_up_gets_it_once(
    client: TestClient, user: User, inbox: Inbox, smtp: tuple[Inbox, Server]
) -> None:
    letter = letter_to(client, user)
    send(client, user, letter)
    inbox.replies = ["451 4.3.0 Try again later"]
    assert sender(client).run_once() == ["queued"]
    assert sender(client).run_once() == []  # not due yet
    smtp[1].down()  # the server goes down
    later = utcnow() + timedelta(minutes=5)
    assert sender(client).run_once(later) == ["queued"]
    smtp[1].up()  # and comes back
    assert sender(client).run_once(later + timedelta(hours=3)) == ["delivered"]
    assert len(inbox.received) == 1
    after = client.get(f"/api/v1/letters/{letter['id']}", headers=user.headers).json()
    assert after["status"] == "sent"


def test_a_crash_between_commit_and_send_loses_nothing_and_sends_once(
    client: TestClient, user: User, inbox: Inbox
) -> None:
    letter = letter_to(client, user)
    send(client, user, letter)  # committed; the process "dies" before any sender ran
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with Session(engine) as session:
        # A sender that claimed it and died mid-send: its lease runs out.
        [row] = session.exec(select(MailMessage)).all()
        row.status, row.lease_until, row.attempts = "sending", utcnow() - timedelta(seconds=1), 1
        session.add(row)
        session.commit()
    restarted = MailSender(client.app.state.settings, engine)  # type: ignore[attr-defined]
    assert restarted.run_once() == ["delivered"]
    assert restarted.run_once() == []
    assert len(inbox.received) == 1


def test_a_recipient_without_an_email_or_no_mail_set_up_is_refused_before_queuing(
    client: TestClient, user: User
) -> None:
    contact = make_contact(client, user, full_name="No Mail")
    letter = create_letter(client, user, recipient_id=contact["id"])
    assert_problem(send(client, user, letter), 422, "recipient_has_no_email")
    other = register(client)
    lonely = create_letter(client, other)
    bare = client.app.state.settings.model_copy(update={"smtp_url": None})  # type: ignore[attr-defined]
    client.app.state.settings = bare  # type: ignore[attr-defined]
    client.app.dependency_overrides = {}
    r = send(client, other, lonely, delivery="email")
    assert_problem(r, 422, "mail_not_configured")


def test_the_users_own_mailbox_is_used_with_its_login_and_its_password_is_sealed(
    client: TestClient, user: User, inbox: Inbox, smtp: tuple[Inbox, Server]
) -> None:
    account = {
        "host": "127.0.0.1",
        "port": smtp[1].port,
        "security": "none",
        "username": "me",
        "password": "s3cret",
        "from_address": "zoe@mybox.example",
    }
    r = client.post(
        "/api/v1/mail/test",
        json={"account": {**account, "password": "wrong"}},
        headers=user.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is False and "535" in r.json()["detail"]
    before = client.get("/api/v1/mail/account", headers=user.headers).json()
    assert before == {"mailbox": None, "relay": True, "default_delivery": "email"}
    r = client.put("/api/v1/mail/account", json=account, headers=user.headers)
    assert r.status_code == 200, r.text
    assert "password" not in r.json()["mailbox"]
    assert r.json()["mailbox"]["from_address"] == "zoe@mybox.example"
    assert client.post("/api/v1/mail/test", json={}, headers=user.headers).json()["ok"] is True
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        [stored] = session.exec(select(MailAccount)).all()
        assert "s3cret" not in stored.password_sealed
    letter = letter_to(client, user)
    send(client, user, letter)
    assert sender(client).run_once() == ["delivered"]
    [envelope] = inbox.received
    assert envelope.mail_from == "zoe@mybox.example"
    [message] = inbox.messages()
    assert message["Reply-To"] is None
    assert message["From"].addresses[0].addr_spec == "zoe@mybox.example"
    r = client.delete("/api/v1/mail/account", headers=user.headers)
    assert r.status_code == 204
    assert client.get("/api/v1/mail/account", headers=user.headers).json()["mailbox"] is None
    assert_problem(client.delete("/api/v1/mail/account", headers=user.headers), 404)


def test_a_mailbox_on_a_private_address_is_refused_unless_the_server_allows(
    client: TestClient, user: User
) -> None:
    client.app.state.settings = client.app.state.settings.model_copy(  # type: ignore[attr-defined]
        update={"mail_allow_private_hosts": False}
    )
    account = {"host": "127.0.0.1", "port": 587, "username": "me", "password": "x"}
    r = client.put("/api/v1/mail/account", json=account, headers=user.headers)
    assert_problem(r, 422, "mail_host_not_allowed")


def test_an_enclosed_document_travels_as_an_attachment_byte_for_byte(
    client: TestClient, user: User, inbox: Inbox
) -> None:
    content = "Zoë Ångström — notes on my background\n".encode()
    r = client.post(
        "/api/v1/documents",
        files={"file": ("Hintergrund — Zoë.txt", content, "text/plain")},
        data={"kind": "other"},
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    letter = letter_to(client, user, attachment_ids=[r.json()["id"]])
    send(client, user, letter)
    assert sender(client).run_once() == ["delivered"]
    [message] = inbox.messages()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "Hintergrund — Zoë.txt"
    assert attachment.get_content_type() == "text/plain"
    assert attachment.get_payload(decode=True) == content


def test_a_mailbox_password_that_no_longer_opens_is_said_plainly(
    client: TestClient, user: User, smtp: tuple[Inbox, Server]
) -> None:
    account = {
        "host": "127.0.0.1",
        "port": smtp[1].port,
        "security": "none",
        "username": "me",
        "password": "s3cret",
    }
    assert client.put("/api/v1/mail/account", json=account, headers=user.headers).status_code == 200
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        [stored] = session.exec(select(MailAccount)).all()
        stored.password_sealed = "v1:bm90LWEtc2VhbGVkLXZhbHVlLWF0LWFsbA"  # sealed by another key
        session.add(stored)
        session.commit()
    r = client.post("/api/v1/mail/test", json={}, headers=user.headers)
    assert r.status_code == 200 and r.json()["ok"] is False
    assert "cannot be read" in r.json()["detail"]
    letter = letter_to(client, user)
    assert_problem(send(client, user, letter), 422, "mail_account_unreadable")
