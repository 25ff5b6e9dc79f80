"""Factories for contacts and referrals, built through the API itself.

Other test modules import these: ``create_contact(client, user, **fields)`` and
``create_referral(client, user, referrer_id, referred_id, relationship="friend")`` each
return the created resource's JSON body. ``insert_interview`` and ``insert_letter`` write
rows that refer to contacts straight into the database.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import text
from sqlmodel import Session, SQLModel

from app.interviews.schemas import Interview
from app.kit.config import Settings
from app.kit.db import make_engine
from app.letters.schemas import Letter
from tests.factories import User

_counter = itertools.count(1)


def create_contact(client: TestClient, user: User, **fields: Any) -> dict[str, Any]:
    """Create a contact for ``user``; ``full_name`` defaults to a unique name."""
    body: dict[str, Any] = {"full_name": f"Contact {next(_counter)}"}
    body.update(fields)
    r = client.post("/api/v1/contacts", json=body, headers=user.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def create_referral(
    client: TestClient,
    user: User,
    referrer_id: str,
    referred_id: str,
    relationship: str = "friend",
    **fields: Any,
) -> dict[str, Any]:
    """Record that ``referrer_id`` gave ``user`` the lead to ``referred_id``."""
    body: dict[str, Any] = {
        "referrer_id": referrer_id,
        "referred_id": referred_id,
        "relationship": relationship,
    }
    body.update(fields)
    r = client.post("/api/v1/referrals", json=body, headers=user.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def insert_row(settings: Settings, row: SQLModel) -> None:
    """Write a row straight into the test database, bypassing the API.

    For records whose endpoints belong to another feature (an interview or a letter that
    refers to a contact), so contact and referral tests do not depend on those endpoints.
    """
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with Session(engine, expire_on_commit=False) as session:
            session.add(row)
            session.commit()
    finally:
        engine.dispose()


def insert_interview(
    settings: Settings, user: User, contact_id: str, referral_id: str | None = None
) -> uuid.UUID:
    """An interview row with ``contact_id`` (and ``referral_id``), written directly."""
    interview = Interview(
        owner_id=uuid.UUID(user.id),
        contact_id=uuid.UUID(contact_id),
        referral_id=uuid.UUID(referral_id) if referral_id else None,
    )
    insert_row(settings, interview)
    return interview.id


def insert_letter(settings: Settings, user: User, recipient_id: str) -> uuid.UUID:
    """A draft letter row to ``recipient_id``, written directly."""
    letter = Letter(
        owner_id=uuid.UUID(user.id), kind="keep_in_touch", recipient_id=uuid.UUID(recipient_id)
    )
    insert_row(settings, letter)
    return letter.id


def race_with_uncommitted_insert(
    settings: Settings, row: SQLModel, request: Callable[[], Response]
) -> Response:
    """Run ``request`` while another transaction holds ``row`` inserted but not committed.

    PostgreSQL only: the request's own checks cannot see the uncommitted row, so it goes on
    to write and blocks on the row's lock; once it is seen waiting, the other transaction
    commits. The request then meets the database's constraint, not its own pre-check, which
    shows the constraint error is turned into the right problem.
    """
    engine = make_engine(settings.database_url, pool_size=2)
    try:
        with Session(engine, expire_on_commit=False) as holder, ThreadPoolExecutor(1) as pool:
            holder.add(row)
            holder.flush()
            future = pool.submit(request)
            deadline = time.monotonic() + 30
            with engine.connect() as watcher:
                while not future.done():
                    waiting = watcher.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                            "current_database() AND wait_event_type = 'Lock'"
                        )
                    ).scalar_one()
                    watcher.rollback()
                    if waiting or time.monotonic() > deadline:
                        break
                    time.sleep(0.02)
            assert not future.done(), "the request did not wait for the uncommitted row"
            holder.commit()
            return future.result(timeout=30)
    finally:
        engine.dispose()
