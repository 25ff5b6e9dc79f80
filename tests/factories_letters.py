"""Factories for letters (and the contacts, referrals and interviews letters point at).

Other test modules import these:

- ``create_letter(client, user, **fields)`` — create a letter for ``user`` and return its JSON.
  ``kind`` defaults to ``keep_in_touch``, ``body`` to a courteous line, and a recipient contact
  is created when ``recipient_id`` is not given.
- ``send_letter(client, user, letter_id)`` — send it and return the sent letter's JSON.

The helpers below them build the contacts, referrals and interviews letters refer to, through
the API. ``set_interview`` moves an interview's state or
decision straight in the database: a shortcut for letter tests, which check letter rules
against an interview's state without walking the whole workflow to get there.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session

from app.interviews.schemas import Interview
from app.kit.db import utcnow
from tests.factories import User

_counter = itertools.count(1)

DEFAULT_BODY = "It was good to catch up last month; I hope the new project is going well."


def create_letter(client: TestClient, user: User, **fields: Any) -> dict[str, Any]:
    """Create a letter for ``user`` and return it; asserts the API answered 201."""
    body: dict[str, Any] = {"kind": "keep_in_touch", "body": DEFAULT_BODY}
    body.update(fields)
    if "recipient_id" not in body:
        body["recipient_id"] = make_contact(client, user)["id"]
    r = client.post("/api/v1/letters", json=body, headers=user.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def send_letter(client: TestClient, user: User, letter_id: str) -> dict[str, Any]:
    """Send a draft letter and return it; asserts the API answered 200."""
    r = client.post(f"/api/v1/letters/{letter_id}/send", headers=user.headers)
    assert r.status_code == 200, r.text
    sent: dict[str, Any] = r.json()
    return sent


def _session(client: TestClient) -> Session:
    return Session(client.app.state.engine)  # type: ignore[attr-defined]


def make_contact(client: TestClient, user: User, **fields: Any) -> dict[str, Any]:
    """A contact of ``user``: ``{"id": ..., "full_name": ...}`` at least."""
    fields.setdefault("full_name", f"Letter Contact {next(_counter)}")
    r = client.post("/api/v1/contacts", json=fields, headers=user.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def make_referral(
    client: TestClient, user: User, referrer_id: str, referred_id: str
) -> dict[str, Any]:
    """Record that ``referrer_id`` gave ``user`` the lead to ``referred_id``."""
    body = {"referrer_id": referrer_id, "referred_id": referred_id, "relationship": "friend"}
    r = client.post("/api/v1/referrals", json=body, headers=user.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def make_interview(
    client: TestClient,
    user: User,
    contact_id: str | None = None,
    *,
    state: str | None = None,
    decision: str | None = None,
) -> dict[str, Any]:
    """An interview of ``user`` with ``contact_id`` (a new contact if not given).

    ``state`` and ``decision``, when given, are then set directly (see ``set_interview``).
    Returns at least ``{"id": ..., "contact_id": ...}``.
    """
    if contact_id is None:
        contact_id = make_contact(client, user)["id"]
    r = client.post("/api/v1/interviews", json={"contact_id": contact_id}, headers=user.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    if state is not None or decision is not None:
        set_interview(client, created["id"], state=state, decision=decision)
    return created


def set_interview(
    client: TestClient, interview_id: str, *, state: str | None = None, decision: str | None = None
) -> None:
    """Put an interview straight into ``state`` / ``decision`` (a test shortcut, no guards).

    Moving to ``held`` or beyond also stamps ``held_at`` (and the later state times), as the
    workflow would have.
    """
    values: dict[str, Any] = {}
    if decision is not None:
        values["decision"] = decision
    if state is not None:
        values["state"] = state
        now = utcnow()
        order = ["request", "prepared", "held", "thanked", "reported-back"]
        if state in order:
            for name, column in zip(
                order[1:], ["prepared_at", "held_at", "thanked_at", "reported_back_at"], strict=True
            ):
                if order.index(state) >= order.index(name):
                    values[column] = now
        elif state == "cancelled":
            values["cancelled_at"] = now
            values["cancel_reason"] = "test"
    with _session(client) as session:
        session.execute(
            update(Interview)
            .where(Interview.id == uuid.UUID(interview_id))  # type: ignore[arg-type]
            .values(**values)
        )
        session.commit()
