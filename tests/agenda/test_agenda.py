"""The agenda over HTTP: every kind of due action appears when due and goes when it is done.

Times are moved into the past straight in the database (``backdate``): sent letters are
immutable through the API, and waiting a week is not an option.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, update
from sqlmodel import Session

from app.contacts.schemas import Contact
from app.interviews.schemas import Interview
from app.kit.db import utcnow
from app.letters.schemas import Letter
from tests.factories import User, assert_problem, register
from tests.factories_interviews import (
    complete_checklist,
    create_contact,
    create_interview,
    create_referral,
    future,
    prepared_interview,
    send,
    transition,
)

API = "/api/v1/agenda"


# --- helpers -----------------------------------------------------------------------------------


def get_agenda(client: TestClient, user: User, **params: Any) -> dict[str, Any]:
    """The agenda body; ``due_before`` may be a datetime."""
    if isinstance(params.get("due_before"), datetime):
        params["due_before"] = params["due_before"].isoformat()
    r = client.get(API, params=params, headers=user.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def items(
    client: TestClient, user: User, kind: str | None = None, **params: Any
) -> list[dict[str, Any]]:
    data = get_agenda(client, user, **params)["data"]
    return [i for i in data if kind is None or i["kind"] == kind]


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def backdate(client: TestClient, model: Any, row_id: str, **values: datetime) -> None:
    """Set timestamp columns of one row directly (a test shortcut around immutability)."""
    app: Any = client.app
    with Session(app.state.engine) as session:
        session.execute(update(model).where(model.id == uuid.UUID(row_id)).values(**values))
        session.commit()


def row_value(client: TestClient, model: Any, row_id: str, column: str) -> Any:
    app: Any = client.app
    with Session(app.state.engine) as session:
        row = session.get(model, uuid.UUID(row_id))
        assert row is not None
        return getattr(row, column)


def held_interview(client: TestClient, user: User, **fields: Any) -> dict[str, Any]:
    """An interview walked to ``held`` (scheduled an hour ago)."""
    interview = prepared_interview(client, user, **fields)
    r = transition(client, user, interview["id"], "held")
    assert r.status_code == 200, r.text
    held: dict[str, Any] = r.json()
    return held


def thanked_interview(client: TestClient, user: User, **fields: Any) -> dict[str, Any]:
    """An interview walked to ``thanked``."""
    interview = held_interview(client, user, **fields)
    send(client, user, "thank_you", interview["contact_id"], interview["id"])
    r = transition(client, user, interview["id"], "thanked")
    assert r.status_code == 200, r.text
    thanked: dict[str, Any] = r.json()
    return thanked


def about(found: list[dict[str, Any]], interview_id: str) -> list[dict[str, Any]]:
    return [i for i in found if i["interview_id"] == interview_id]


# --- follow_up ---------------------------------------------------------------------------------


class TestFollowUp:
    def test_due_seven_days_after_the_request_letter(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user, full_name="Jane Doe")
        iv = create_interview(client, user, contact_id=contact["id"])
        letter = send(client, user, "request", contact["id"], iv["id"])

        assert about(items(client, user, "follow_up", due_before=utcnow()), iv["id"]) == []
        [item] = about(
            items(client, user, "follow_up", due_before=utcnow() + timedelta(days=8)), iv["id"]
        )
        assert parse(item["due_at"]) == parse(letter["sent_at"]) + timedelta(days=7)
        assert item["overdue"] is False
        assert item["contact_id"] == contact["id"]
        assert "Jane Doe" in item["title"]

    def test_overdue_and_cleared_by_a_follow_up_letter(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        letter = send(client, user, "request", iv["contact_id"], iv["id"])
        sent_at = utcnow() - timedelta(days=10)
        backdate(client, Letter, letter["id"], sent_at=sent_at)

        [item] = about(items(client, user, "follow_up"), iv["id"])
        assert item["overdue"] is True
        assert parse(item["due_at"]) == sent_at + timedelta(days=7)

        follow = send(client, user, "follow_up", iv["contact_id"], iv["id"])
        assert about(items(client, user, "follow_up", due_before=utcnow()), iv["id"]) == []
        # The clock starts again from the follow-up letter.
        [item] = about(
            items(client, user, "follow_up", due_before=utcnow() + timedelta(days=8)), iv["id"]
        )
        assert parse(item["due_at"]) == parse(follow["sent_at"]) + timedelta(days=7)

    def test_cleared_by_scheduling_a_time_or_cancelling(self, client: TestClient) -> None:
        user = register(client)
        scheduled, cancelled = create_interview(client, user), create_interview(client, user)
        for iv in (scheduled, cancelled):
            letter = send(client, user, "request", iv["contact_id"], iv["id"])
            backdate(client, Letter, letter["id"], sent_at=utcnow() - timedelta(days=8))
        assert {i["interview_id"] for i in items(client, user, "follow_up")} == {
            scheduled["id"],
            cancelled["id"],
        }

        r = client.patch(
            f"/api/v1/interviews/{scheduled['id']}",
            json={"scheduled_at": future(48)},
            headers=user.headers,
        )
        assert r.status_code == 200, r.text
        r = transition(client, user, cancelled["id"], "cancelled", reason="No answer")
        assert r.status_code == 200, r.text
        assert items(client, user, "follow_up") == []

    def test_nothing_to_follow_up_without_a_sent_request(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        r = client.post(
            "/api/v1/letters",
            json={
                "kind": "request",
                "recipient_id": iv["contact_id"],
                "interview_id": iv["id"],
                "body": "Would you have twenty minutes to tell me about your work?",
            },
            headers=user.headers,
        )
        assert r.status_code == 201, r.text  # a draft only
        assert items(client, user, due_before=utcnow() + timedelta(days=30)) == []


# --- prepare -----------------------------------------------------------------------------------


def tick(client: TestClient, user: User, interview_id: str, **items_: Any) -> None:
    r = client.patch(
        f"/api/v1/interviews/{interview_id}/checklist", json=items_, headers=user.headers
    )
    assert r.status_code == 200, r.text


class TestPrepare:
    def test_due_three_days_before_until_the_checklist_is_complete(
        self, client: TestClient
    ) -> None:
        user = register(client)
        contact = create_contact(client, user, full_name="Ada Auditor")
        iv = create_interview(
            client, user, contact_id=contact["id"], mode="in_person", scheduled_at=future(48)
        )
        [item] = about(items(client, user, "prepare"), iv["id"])
        assert parse(item["due_at"]) == parse(iv["scheduled_at"]) - timedelta(days=3)
        assert item["overdue"] is True  # the interview is less than 3 days away
        assert item["contact_id"] == contact["id"]
        assert "Ada Auditor" in item["title"] and "attire" in item["title"]

        tick(
            client,
            user,
            iv["id"],
            research={"done": True},
            website={"done": True},
            self_assessment={"done": True},
            opening_statement={"done": True, "text": "I study accounting."},
        )
        [item] = about(items(client, user, "prepare"), iv["id"])
        assert item["title"].endswith(": attire")

        tick(client, user, iv["id"], attire={"done": True})
        assert items(client, user, "prepare") == []

    def test_attire_only_counts_in_person(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user, mode="video", scheduled_at=future(24))
        tick(
            client,
            user,
            iv["id"],
            research={"done": True},
            website={"done": True},
            self_assessment={"done": True},
            opening_statement={"done": True, "text": "Who I am, and why this field."},
        )
        assert items(client, user, "prepare") == []

    def test_the_opening_statement_needs_a_text(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user, mode="phone", scheduled_at=future(24))
        tick(
            client,
            user,
            iv["id"],
            research={"done": True},
            website={"done": True},
            self_assessment={"done": True},
            opening_statement={"done": True, "text": " \t\n "},
        )
        [item] = about(items(client, user, "prepare"), iv["id"])
        assert item["title"].endswith(": opening statement")
        tick(client, user, iv["id"], opening_statement={"text": "I build websites."})
        assert items(client, user, "prepare") == []

    def test_later_interviews_wait_and_past_ones_are_not_prepared(self, client: TestClient) -> None:
        user = register(client)
        later = create_interview(client, user, scheduled_at=future(5 * 24))
        create_interview(client, user, scheduled_at=future(-2))
        assert items(client, user, "prepare", due_before=utcnow()) == []
        [item] = items(client, user, "prepare")  # default horizon: the next 7 days
        assert item["interview_id"] == later["id"]
        assert item["overdue"] is False

    def test_a_prepared_interview_whose_checklist_was_undone(self, client: TestClient) -> None:
        user = register(client)
        iv = prepared_interview(client, user, scheduled_at=future(24))
        assert items(client, user, "prepare") == []
        tick(client, user, iv["id"], research={"done": False})
        [item] = about(items(client, user, "prepare"), iv["id"])
        assert item["title"].endswith(": research")
        complete_checklist(client, user, iv["id"])
        r = transition(client, user, iv["id"], "cancelled", reason="They moved abroad")
        assert r.status_code == 200, r.text
        tick(client, user, iv["id"], research={"done": False})
        assert items(client, user, "prepare") == []


# --- thank ---------------------------------------------------------------------------------------


class TestThank:
    def test_due_a_day_after_held_until_the_thank_you_is_sent(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user, full_name="Jane Doe")
        iv = held_interview(client, user, contact_id=contact["id"])
        held_at = parse(iv["held_at"])

        assert about(items(client, user, "thank", due_before=utcnow()), iv["id"]) == []
        [item] = about(items(client, user, "thank"), iv["id"])
        assert parse(item["due_at"]) == held_at + timedelta(hours=24)
        assert item["overdue"] is False
        assert item["title"] == "Send a thank-you to Jane Doe"
        assert item["contact_id"] == contact["id"]

        backdate(client, Interview, iv["id"], held_at=held_at - timedelta(days=2))
        [item] = about(items(client, user, "thank"), iv["id"])
        assert item["overdue"] is True

        send(client, user, "thank_you", contact["id"], iv["id"])
        assert items(client, user, "thank") == []


# --- report_back ---------------------------------------------------------------------------------


class TestReportBack:
    def test_one_item_per_referrer_until_each_gets_a_report(self, client: TestClient) -> None:
        user = register(client)
        interviewee = create_contact(client, user, full_name="Dana Auditor")
        friend = create_contact(client, user, full_name="Sam Friend")
        professor = create_contact(client, user, full_name="Prof Lee")
        create_referral(client, user, friend["id"], interviewee["id"])
        create_referral(client, user, professor["id"], interviewee["id"], "faculty")
        iv = thanked_interview(client, user, contact_id=interviewee["id"])
        thanked_at = parse(iv["thanked_at"])

        assert items(client, user, "report_back", due_before=utcnow()) == []
        found = items(client, user, "report_back", due_before=utcnow() + timedelta(days=8))
        assert {i["contact_id"] for i in found} == {friend["id"], professor["id"]}
        for item in found:
            assert item["interview_id"] == iv["id"]
            assert parse(item["due_at"]) == thanked_at + timedelta(days=7)
            assert item["overdue"] is False
            assert "Dana Auditor" in item["title"]
        titles = {i["contact_id"]: i["title"] for i in found}
        assert (
            titles[friend["id"]] == "Report back to Sam Friend on your interview with Dana Auditor"
        )

        backdate(client, Interview, iv["id"], thanked_at=thanked_at - timedelta(days=8))
        assert all(i["overdue"] for i in items(client, user, "report_back"))

        send(client, user, "report_back", friend["id"], iv["id"])
        [left] = items(client, user, "report_back")
        assert left["contact_id"] == professor["id"]
        send(client, user, "report_back", professor["id"], iv["id"])
        assert items(client, user, "report_back") == []
        assert transition(client, user, iv["id"], "reported-back").status_code == 200

    def test_nobody_to_report_to_without_a_referrer(self, client: TestClient) -> None:
        user = register(client)
        iv = thanked_interview(client, user)
        backdate(client, Interview, iv["id"], thanked_at=utcnow() - timedelta(days=30))
        assert items(client, user, "report_back") == []


# --- keep_in_touch -------------------------------------------------------------------------------


class TestKeepInTouch:
    def test_due_a_cadence_after_creation_when_never_contacted(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user, full_name="Kim Mentor", keep_in_touch_days=30)
        create_contact(client, user)  # no cadence: never due
        assert items(client, user, "keep_in_touch") == []
        [item] = items(client, user, "keep_in_touch", due_before=utcnow() + timedelta(days=31))
        assert item["contact_id"] == contact["id"]
        assert item["interview_id"] is None
        assert parse(item["due_at"]) == parse(contact["created_at"]) + timedelta(days=30)
        assert item["title"] == "Keep in touch with Kim Mentor"

    def test_a_sent_letter_clears_it(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user, keep_in_touch_days=30)
        created_at = utcnow() - timedelta(days=40)
        backdate(client, Contact, contact["id"], created_at=created_at)
        [item] = items(client, user, "keep_in_touch")
        assert item["overdue"] is True
        assert parse(item["due_at"]) == created_at + timedelta(days=30)

        r = client.post(
            "/api/v1/letters",
            json={
                "kind": "keep_in_touch",
                "recipient_id": contact["id"],
                "body": "I put your advice on networking to work; thank you again.",
            },
            headers=user.headers,
        )
        assert r.status_code == 201, r.text
        r = client.post(f"/api/v1/letters/{r.json()['id']}/send", headers=user.headers)
        assert r.status_code == 200, r.text
        sent_at = parse(r.json()["sent_at"])

        assert items(client, user, "keep_in_touch") == []
        [item] = items(client, user, "keep_in_touch", due_before=utcnow() + timedelta(days=31))
        assert parse(item["due_at"]) == sent_at + timedelta(days=30)

    def test_follows_last_contacted_and_skips_archived(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user, keep_in_touch_days=7)
        last = utcnow() - timedelta(days=9)
        backdate(client, Contact, contact["id"], last_contacted_at=last)
        [item] = items(client, user, "keep_in_touch")
        assert parse(item["due_at"]) == last + timedelta(days=7)
        r = client.patch(
            f"/api/v1/contacts/{contact['id']}", json={"archived": True}, headers=user.headers
        )
        assert r.status_code == 200, r.text
        assert items(client, user, "keep_in_touch") == []

    def test_a_held_interview_counts_as_contact(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user, keep_in_touch_days=30)
        backdate(client, Contact, contact["id"], created_at=utcnow() - timedelta(days=60))
        assert len(items(client, user, "keep_in_touch")) == 1
        iv = held_interview(client, user, contact_id=contact["id"])
        assert row_value(client, Contact, contact["id"], "last_contacted_at") is not None
        assert items(client, user, "keep_in_touch") == []
        assert about(items(client, user), iv["id"])[0]["kind"] == "thank"


# --- the list ------------------------------------------------------------------------------------


def mixed_agenda(client: TestClient, user: User) -> dict[str, str]:
    """Three overdue actions of different kinds, due 10, 3 and 2 days ago."""
    keep = create_contact(client, user, keep_in_touch_days=30)
    backdate(client, Contact, keep["id"], created_at=utcnow() - timedelta(days=40))
    request = create_interview(client, user)
    letter = send(client, user, "request", request["contact_id"], request["id"])
    backdate(client, Letter, letter["id"], sent_at=utcnow() - timedelta(days=10))
    held = held_interview(client, user)
    backdate(client, Interview, held["id"], held_at=utcnow() - timedelta(days=3))
    return {"keep": keep["id"], "follow": request["id"], "thank": held["id"]}


class TestList:
    def test_oldest_first_across_kinds(self, client: TestClient) -> None:
        user = register(client)
        ids = mixed_agenda(client, user)
        data = items(client, user)
        assert [i["kind"] for i in data] == ["keep_in_touch", "follow_up", "thank"]
        assert data[0]["contact_id"] == ids["keep"]
        assert data[1]["interview_id"] == ids["follow"]
        assert data[2]["interview_id"] == ids["thank"]
        dues = [parse(i["due_at"]) for i in data]
        assert dues == sorted(dues)
        assert all(i["overdue"] for i in data)

    def test_limit_and_has_more(self, client: TestClient) -> None:
        user = register(client)
        mixed_agenda(client, user)
        body = get_agenda(client, user, limit=2)
        assert [i["kind"] for i in body["data"]] == ["keep_in_touch", "follow_up"]
        assert body["has_more"] is True
        body = get_agenda(client, user, limit=3)
        assert len(body["data"]) == 3
        assert body["has_more"] is False

    def test_due_before_cuts_and_is_echoed(self, client: TestClient) -> None:
        user = register(client)
        mixed_agenda(client, user)
        cut = utcnow() - timedelta(days=5)
        body = get_agenda(client, user, due_before=cut)
        assert [i["kind"] for i in body["data"]] == ["keep_in_touch"]
        assert parse(body["due_before"]) == cut
        # Another offset is the same instant.
        body = get_agenda(
            client, user, due_before=cut.astimezone(timezone(timedelta(hours=2))).isoformat()
        )
        assert [i["kind"] for i in body["data"]] == ["keep_in_touch"]

    def test_default_horizon_is_a_week_and_overdue_means_past(self, client: TestClient) -> None:
        user = register(client)
        body = get_agenda(client, user)
        assert body["data"] == [] and body["has_more"] is False
        soon = create_contact(client, user, keep_in_touch_days=5)  # due in 5 days
        create_contact(client, user, keep_in_touch_days=9)  # due in 9 days
        before = utcnow()
        body = get_agenda(client, user)
        after = utcnow()
        assert before + timedelta(days=7) <= parse(body["due_before"]) <= after + timedelta(days=7)
        [item] = body["data"]
        assert item["contact_id"] == soon["id"]
        assert item["overdue"] is False


class TestIsolation:
    def test_another_users_actions_never_appear(self, client: TestClient) -> None:
        alice, bob = register(client), register(client)
        mixed_agenda(client, alice)
        contact = create_contact(client, bob, full_name="Bob's Contact", keep_in_touch_days=1)
        backdate(client, Contact, contact["id"], created_at=utcnow() - timedelta(days=3))
        alice_items = items(client, alice)
        bob_items = items(client, bob)
        assert len(alice_items) == 3
        assert [i["contact_id"] for i in bob_items] == [contact["id"]]
        assert contact["id"] not in {i["contact_id"] for i in alice_items}


BAD_PARAMETERS: list[dict[str, Any]] = [
    {"due_before": "2026-12-01T00:00:00"},  # no offset
    {"due_before": "tomorrow"},
    {"due_before": "1796000000"},  # seconds since 1970 are not a timestamp
    {"limit": 0},
    {"limit": 101},
    {"limit": "ten"},
]


class TestBadRequests:
    def test_bad_parameters_are_422_and_a_token_is_needed(self, client: TestClient) -> None:
        user = register(client)
        for params in BAD_PARAMETERS:
            problem = assert_problem(client.get(API, params=params, headers=user.headers), 422)
            assert problem["errors"][0]["loc"][:2] == ["query", next(iter(params))], params
        r = client.get(API)
        assert_problem(r, 401)
        assert r.headers["www-authenticate"] == "Bearer"


# --- the queries ---------------------------------------------------------------------------------


def test_every_query_is_an_index_search(client: TestClient, database_url: str) -> None:
    """On SQLite, no agenda query scans a whole table: each one searches an index."""
    if not database_url.startswith("sqlite"):
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    user = register(client)
    mixed_agenda(client, user)
    app: Any = client.app
    requests = app.state.db.sync_engine  # the engine requests run on
    engine = app.state.engine
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, params))

    event.listen(requests, "before_cursor_execute", capture)
    try:
        get_agenda(client, user)
    finally:
        event.remove(requests, "before_cursor_execute", capture)
    agenda_queries = [
        (s, p) for s, p in statements if "user_account" not in s and "idempotency" not in s
    ]
    assert len(agenda_queries) == 5  # five kinds, each row with its names
    with engine.connect() as conn:
        for statement, params in agenda_queries:
            plan = [
                row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            ]
            scans = [step for step in plan if step.startswith("SCAN ")]
            assert not scans, (statement, plan)
            if "later_ask" in statement:
                # Follow-ups walk the owner's sent letters by send time, and the owner's
                # interactions by time, merging the two and stopping early, rather than
                # gathering every request interview's letters and sorting them.
                assert plan[0] == "MERGE (UNION ALL)", plan
                left, right = plan.index("LEFT"), plan.index("RIGHT")
                assert "ix_letter_owner_id_status_sent_at" in plan[left + 1], plan
                assert "ix_interaction_owner_id_occurred_at" in plan[right + 1], plan
