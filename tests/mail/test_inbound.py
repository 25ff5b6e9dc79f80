"""Replies come back: emails posted to a user's secret inbound address, on both databases."""

from __future__ import annotations

import os
import subprocess
import sys
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.kit.db import utcnow
from tests.factories import User, assert_problem, register
from tests.factories_letters import create_letter
from tests.mail.conftest import Inbox
from tests.mail.test_mail_delivery import events, letter_to, send, sender


def _address(client: TestClient, user: User) -> str:
    r = client.post("/api/v1/mail/inbound", headers=user.headers)
    assert r.status_code == 201, r.text
    url: str = r.json()["url"]
    assert url.startswith("http://testserver/api/v1/inbound/email/ivi_")
    return url.removeprefix("http://testserver")


def reply(to: dict[str, Any] | None, sender_address: str, text: str, **headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = f"José Núñez <{sender_address}>"
    message["To"] = "zoe@example.com"
    message["Subject"] = "Re: Une question — 20 minutes?"
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = headers.pop("message_id", "<reply-1@example.com>")
    if to is not None:
        message["In-Reply-To"] = to["message_id"]
        message["References"] = to["message_id"]
    message.set_content(text)
    return bytes(message)


def interactions_of(client: TestClient, user: User, contact_id: str) -> list[dict[str, Any]]:
    r = client.get("/api/v1/interactions", params={"contact_id": contact_id}, headers=user.headers)
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["data"]
    return found


def test_a_reply_lands_on_its_letter_once(client: TestClient, user: User, inbox: Inbox) -> None:
    url = _address(client, user)
    letter = letter_to(client, user)
    send(client, user, letter)
    assert sender(client).run_once() == ["delivered"]
    sent = client.get(f"/api/v1/letters/{letter['id']}", headers=user.headers).json()
    raw = reply(sent, "jose@example.com", "Gladly — Thursday at ten?")
    r = client.post(url, content=raw, headers={"Content-Type": "message/rfc822"})
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["matched"], result["duplicate"], result["letter_id"]) == (
        True,
        False,
        letter["id"],
    )
    [logged] = interactions_of(client, user, letter["recipient_id"])
    assert (logged["kind"], logged["direction"], logged["letter_id"]) == (
        "reply",
        "inbound",
        letter["id"],
    )
    assert "Thursday at ten" in logged["notes"]
    assert events(client, user, "letter.replied") == 1
    # The provider posts it again: recorded once.
    again = client.post(url, content=raw, headers={"Content-Type": "message/rfc822"}).json()
    assert (again["matched"], again["duplicate"]) == (True, True)
    assert len(interactions_of(client, user, letter["recipient_id"])) == 1


def test_a_provider_form_and_a_match_by_sender_address(client: TestClient, user: User) -> None:
    url = _address(client, user)
    letter = letter_to(client, user)
    send(client, user, letter, delivery="record")
    raw = reply(None, "JOSE@example.com", "Happy to talk.", message_id="<reply-2@example.com>")
    r = client.post(url, data={"email": raw.decode(), "to": "x"})
    assert r.status_code == 200, r.text
    assert (r.json()["matched"], r.json()["letter_id"]) == (True, letter["id"])


def test_an_unknown_or_replaced_address_is_refused_and_strangers_are_not_kept(
    client: TestClient, user: User
) -> None:
    old = _address(client, user)
    new = _address(client, user)
    raw = reply(None, "stranger@example.org", "Buy now")
    assert_problem(client.post(old, content=raw, headers={"Content-Type": "message/rfc822"}), 404)
    r = client.post(new, content=raw, headers={"Content-Type": "message/rfc822"})
    assert r.json() == {
        "matched": False,
        "duplicate": False,
        "letter_id": None,
        "contact_id": None,
        "interaction_id": None,
    }
    # Another user's letter, answered to this user's address: never matched across accounts.
    other = register(client)
    theirs = create_letter(client, other)
    client.post(f"/api/v1/letters/{theirs['id']}/send", headers=other.headers)
    stranger = reply(
        {"message_id": "<theirs@example.com>"}, "x@example.org", "Hi", message_id="<o-1@x>"
    )
    r = client.post(new, content=stranger, headers={"Content-Type": "message/rfc822"})
    assert r.json()["matched"] is False
    assert_problem(
        client.post(
            "/api/v1/inbound/email/nope", content=raw, headers={"Content-Type": "message/rfc822"}
        ),
        404,
    )
    assert client.delete("/api/v1/mail/inbound", headers=user.headers).status_code == 204
    assert_problem(client.post(new, content=raw, headers={"Content-Type": "message/rfc822"}), 404)


def test_the_command_line_feeds_an_mbox_the_same_way(
    client: TestClient, user: User, settings: Any, tmp_path: Any
) -> None:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("one database is enough for the command's own wiring")
    letter = letter_to(client, user)
    send(client, user, letter, delivery="record")
    first = reply(None, "jose@example.com", "Yes, gladly.", message_id="<cli-1@example.com>")
    second = reply(None, "stranger@example.org", "Hello", message_id="<cli-2@example.com>")
    box = tmp_path / "replies.mbox"
    box.write_bytes(
        b"From jose@example.com Sat Dec  5 10:00:00 2026\n"
        + first.replace(b"\r\n", b"\n")
        + b"\nFrom stranger@example.org Sat Dec  5 11:00:00 2026\n"
        + second.replace(b"\r\n", b"\n")
        + b"\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFOVIEW_")}
    env.update(
        INFOVIEW_DATABASE_URL=settings.database_url,
        INFOVIEW_ENV="test",
        INFOVIEW_SECRET_KEY=settings.secret_key,
        INFOVIEW_VAR_DIR=str(tmp_path / "var"),
    )
    command = [str(Path(sys.executable).parent / "infoview"), "inbound-email", str(box)]
    done = subprocess.run(
        [*command, "--user", user.email], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "message 1: recorded as a reply" in done.stdout
    assert "message 2: matches no letter or contact" in done.stdout
    assert "1 of 2 recorded" in done.stdout
    [logged] = interactions_of(client, user, letter["recipient_id"])
    assert logged["letter_id"] == letter["id"]
    again = subprocess.run(
        [*command, "--user", user.email], capture_output=True, text=True, env=env, timeout=60
    )
    assert "message 1: already recorded" in again.stdout
