"""A small account whose figures are worked out by hand in the tests.

Built through the API (contacts, referrals, interviews walked through the workflow, letters
sent); the times the API sets to now are then moved into the past straight in the database
(``backdate``), as the agenda's tests do: waiting days is not an option.

The account, ``N`` being now:

=========  ==========  ========  =========  =========  =============  =====================
interview  interviewee  lead      mode       field      requested      then
=========  ==========  ========  =========  =========  =============  =====================
A          Ann          Rita,     phone      Accounting N-20d          prepared N-10d, held
                        friend                                         N-2h, thanked and
                                                                       reported back now
B          Bob          Rita,     phone      accounting N-20d          prepared N-14d, held
                        friend                                         N-30h, thanked now
C          Cat          Sam,      video      Nursing    N-30d          prepared N-12d, held
                        colleague                                      N-8d, thanked and
                                                                       reported back now
D          Dan          —         video      —          N-5d           prepared N-4d,
                                                                       cancelled now
E          Eve          —         in_person  —          now            (request)
=========  ==========  ========  =========  =========  =============  =====================

Ann, interviewed, gave one lead (to Xavier); Eve, not interviewed, gave one (to Yara).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session

from app.interviews.schemas import Interview
from app.kit.db import utcnow
from tests.factories import User, register
from tests.factories_interviews import (
    complete_checklist,
    create_contact,
    create_interview,
    create_referral,
    past,
    send,
    transition,
)


def backdate(client: TestClient, interview_id: str, **values: datetime) -> None:
    """Set an interview's state times directly (a test shortcut around the clock)."""
    app: Any = client.app
    with Session(app.state.engine) as session:
        session.execute(
            update(Interview).where(Interview.id == uuid.UUID(interview_id)).values(**values)  # type: ignore[arg-type]
        )
        session.commit()


@dataclass
class Account:
    user: User
    now: datetime
    ids: dict[str, str]  # interview letter -> id
    rita: dict[str, Any]
    sam: dict[str, Any]


def _walk(
    client: TestClient,
    user: User,
    contact: dict[str, Any],
    *,
    held_hours_ago: float | None,
    **fields: Any,
) -> dict[str, Any]:
    interview = create_interview(
        client, user, contact_id=contact["id"], scheduled_at=past(1), **fields
    )
    send(client, user, "request", contact["id"], interview["id"])
    complete_checklist(client, user, interview["id"])
    assert transition(client, user, interview["id"], "prepared").status_code == 200
    if held_hours_ago is not None:
        r = transition(client, user, interview["id"], "held", held_at=past(held_hours_ago))
        assert r.status_code == 200, r.text
    return interview


def build_account(client: TestClient) -> Account:
    user = register(client)
    people = {
        name: create_contact(client, user, full_name=name)
        for name in ("Rita Referrer", "Sam Source", "Ann", "Bob", "Cat", "Dan", "Eve")
    }
    rita, sam = people["Rita Referrer"], people["Sam Source"]
    leads = {
        "Ann": create_referral(client, user, rita["id"], people["Ann"]["id"], "friend"),
        "Bob": create_referral(client, user, rita["id"], people["Bob"]["id"], "friend"),
        "Cat": create_referral(client, user, sam["id"], people["Cat"]["id"], "colleague"),
    }
    xavier = create_contact(client, user, full_name="Xavier")
    yara = create_contact(client, user, full_name="Yara")
    create_referral(client, user, people["Ann"]["id"], xavier["id"], "other")
    create_referral(client, user, people["Eve"]["id"], yara["id"], "other")

    a = _walk(
        client,
        user,
        people["Ann"],
        held_hours_ago=2,
        referral_id=leads["Ann"]["id"],
        mode="phone",
        career_field="Accounting",
    )
    b = _walk(
        client,
        user,
        people["Bob"],
        held_hours_ago=30,
        referral_id=leads["Bob"]["id"],
        mode="phone",
        career_field="accounting",
    )
    c = _walk(
        client,
        user,
        people["Cat"],
        held_hours_ago=8 * 24,
        referral_id=leads["Cat"]["id"],
        mode="video",
        career_field="Nursing",
    )
    d = _walk(client, user, people["Dan"], held_hours_ago=None, mode="video")
    e = create_interview(client, user, contact_id=people["Eve"]["id"], mode="in_person")
    for interview in (a, b, c):
        send(client, user, "thank_you", interview["contact_id"], interview["id"])
        assert transition(client, user, interview["id"], "thanked").status_code == 200
    send(client, user, "report_back", rita["id"], a["id"])
    send(client, user, "report_back", sam["id"], c["id"])
    for interview in (a, c):
        assert transition(client, user, interview["id"], "reported-back").status_code == 200
    r = transition(client, user, d["id"], "cancelled", reason="They moved abroad.")
    assert r.status_code == 200, r.text

    now = utcnow()
    day = timedelta(days=1)
    backdate(client, a["id"], requested_at=now - 20 * day, prepared_at=now - 10 * day)
    backdate(client, b["id"], requested_at=now - 20 * day, prepared_at=now - 14 * day)
    backdate(client, c["id"], requested_at=now - 30 * day, prepared_at=now - 12 * day)
    backdate(client, d["id"], requested_at=now - 5 * day, prepared_at=now - 4 * day)
    ids = {"A": a["id"], "B": b["id"], "C": c["id"], "D": d["id"], "E": e["id"]}
    return Account(user=user, now=now, ids=ids, rita=rita, sam=sam)


@pytest.fixture
def account(client: TestClient) -> Account:
    return build_account(client)
