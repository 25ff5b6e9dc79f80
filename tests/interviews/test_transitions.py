"""The workflow over HTTP: request -> prepared -> held -> thanked -> reported-back, and cancel.

Every refusal is a 409 naming every unmet requirement, and changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.contacts.schemas import Contact
from app.interviews.schemas import InterviewEvent
from app.kit.db import utcnow
from tests.factories import User, assert_problem, register
from tests.factories_interviews import (
    complete_checklist,
    create_contact,
    create_interview,
    create_referral,
    future,
    past,
    prepared_interview,
    send,
    transition,
)

API = "/api/v1/interviews"


def snapshot(client: TestClient, user: User, interview_id: str) -> tuple[Any, ...]:
    """Everything a refused move must leave alone: the interview, its ETag, its events."""
    r = client.get(f"{API}/{interview_id}", headers=user.headers)
    assert r.status_code == 200, r.text
    events = client.get(f"{API}/{interview_id}/events", headers=user.headers)
    assert events.status_code == 200, events.text
    return r.json(), r.headers["etag"], events.json()["data"]


def refused(
    client: TestClient, user: User, interview_id: str, to: str, **body: Any
) -> dict[str, Any]:
    """Attempt a move that must be refused; check it changed nothing; return the problem."""
    before = snapshot(client, user, interview_id)
    problem = assert_problem(
        transition(client, user, interview_id, to, **body), 409, "transition_refused"
    )
    assert snapshot(client, user, interview_id) == before
    assert problem["current_state"] == before[0]["state"]
    assert all(e["message"] for e in problem["errors"])
    return problem


def error_codes(problem: dict[str, Any]) -> list[str]:
    return [e["code"] for e in problem["errors"]]


def last_contacted(client: TestClient, contact_id: str) -> datetime | None:
    app: Any = client.app
    with Session(app.state.engine) as session:
        contact = session.get(Contact, uuid.UUID(contact_id))
        assert contact is not None
        return contact.last_contacted_at


class TestWalk:
    def test_whole_workflow_with_two_referrers(self, client: TestClient) -> None:
        user = register(client)
        interviewee = create_contact(client, user, full_name="Dana Auditor")
        friend = create_contact(client, user, full_name="Friend")
        professor = create_contact(client, user, full_name="Professor")
        referral = create_referral(client, user, friend["id"], interviewee["id"])
        create_referral(client, user, professor["id"], interviewee["id"])
        iv = create_interview(
            client, user, contact_id=interviewee["id"], referral_id=referral["id"]
        )
        iid = iv["id"]
        assert iv["state"] == "request"

        # request -> prepared: every requirement named at once.
        problem = refused(client, user, iid, "prepared")
        assert error_codes(problem) == [
            "request_letter_not_sent",
            "not_scheduled",
            "checklist_incomplete",
        ]
        assert problem["errors"][2]["missing"] == [
            "research",
            "website",
            "self_assessment",
            "opening_statement",
            "attire",
        ]
        assert problem["allowed_transitions"] == ["prepared", "cancelled"]

        send(client, user, "request", interviewee["id"], iid)
        assert error_codes(refused(client, user, iid, "prepared")) == [
            "not_scheduled",
            "checklist_incomplete",
        ]
        r = client.patch(f"{API}/{iid}", json={"scheduled_at": past(2)}, headers=user.headers)
        assert r.status_code == 200, r.text
        r = client.patch(
            f"{API}/{iid}/checklist",
            json={"research": {"done": True}, "opening_statement": {"done": True}},
            headers=user.headers,
        )
        assert r.status_code == 200, r.text
        problem = refused(client, user, iid, "prepared")
        assert error_codes(problem) == ["checklist_incomplete"]
        assert problem["errors"][0]["missing"] == [
            "website",
            "self_assessment",
            "opening_statement",
            "attire",
        ]
        complete_checklist(client, user, iid)

        r = transition(client, user, iid, "prepared")
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "prepared"
        assert r.json()["prepared_at"] is not None
        assert r.headers["etag"] == client.get(f"{API}/{iid}", headers=user.headers).headers["etag"]

        # prepared -> held, with a held_at in the past.
        assert last_contacted(client, interviewee["id"]) is not None  # the request letter
        held_at = utcnow() - timedelta(minutes=30)
        r = transition(client, user, iid, "held", held_at=held_at.isoformat())
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "held"
        assert datetime.fromisoformat(r.json()["held_at"]) == held_at

        # held -> thanked
        assert error_codes(refused(client, user, iid, "thanked")) == ["thank_you_not_sent"]
        send(client, user, "thank_you", interviewee["id"], iid)
        r = transition(client, user, iid, "thanked")
        assert r.status_code == 200, r.text
        assert r.json()["thanked_at"] is not None

        # thanked -> reported-back: each referrer not yet reported to is named.
        problem = refused(client, user, iid, "reported-back")
        assert error_codes(problem) == ["referrer_not_reported"] * 2
        assert {e["contact_id"] for e in problem["errors"]} == {friend["id"], professor["id"]}
        send(client, user, "report_back", friend["id"], iid)
        problem = refused(client, user, iid, "reported-back")
        assert [(e["code"], e["contact_id"]) for e in problem["errors"]] == [
            ("referrer_not_reported", professor["id"])
        ]
        send(client, user, "report_back", professor["id"], iid)
        r = transition(client, user, iid, "reported-back")
        assert r.status_code == 200, r.text
        final = r.json()
        assert final["state"] == "reported-back"
        assert final["reported_back_at"] is not None

        # The end of the road.
        problem = refused(client, user, iid, "cancelled", reason="changed my mind")
        assert error_codes(problem) == ["invalid_transition"]
        assert problem["allowed_transitions"] == []
        assert client.get(f"{API}/{iid}/transitions", headers=user.headers).json() == []

        events = client.get(f"{API}/{iid}/events", headers=user.headers).json()["data"]
        assert [(e["from_state"], e["to_state"]) for e in events] == [
            ("request", "prepared"),
            ("prepared", "held"),
            ("held", "thanked"),
            ("thanked", "reported-back"),
        ]
        assert {e["actor"] for e in events} == {user.id}
        assert {e["interview_id"] for e in events} == {iid}
        assert [e["at"] for e in events] == sorted(e["at"] for e in events)

    def test_no_referrer_nobody_to_report_to(self, client: TestClient) -> None:
        user = register(client)
        iv = prepared_interview(client, user)
        assert transition(client, user, iv["id"], "held").status_code == 200
        send(client, user, "thank_you", iv["contact_id"], iv["id"])
        assert transition(client, user, iv["id"], "thanked").status_code == 200
        r = transition(client, user, iv["id"], "reported-back")
        assert r.status_code == 200, r.text

    def test_held_refreshes_last_contacted(self, client: TestClient) -> None:
        user = register(client)
        iv = prepared_interview(client, user)
        held_at = utcnow() - timedelta(seconds=1)
        before = last_contacted(client, iv["contact_id"])
        assert before is not None and before < utcnow()
        r = transition(client, user, iv["id"], "held", held_at=held_at.isoformat())
        assert r.status_code == 200, r.text
        after = last_contacted(client, iv["contact_id"])
        assert after is not None and after >= before

    def test_held_at_defaults_to_now(self, client: TestClient) -> None:
        user = register(client)
        iv = prepared_interview(client, user)
        start = utcnow()
        r = transition(client, user, iv["id"], "held")
        assert r.status_code == 200, r.text
        held_at = datetime.fromisoformat(r.json()["held_at"])
        assert start <= held_at <= utcnow()


class TestPreparedGuards:
    def test_request_letter_for_another_interview_does_not_count(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user)
        other = create_interview(client, user, contact_id=contact["id"])
        send(client, user, "request", contact["id"], other["id"])
        iv = create_interview(client, user, contact_id=contact["id"], scheduled_at=future())
        complete_checklist(client, user, iv["id"])
        assert error_codes(refused(client, user, iv["id"], "prepared")) == [
            "request_letter_not_sent"
        ]

    def test_future_schedule_is_fine_for_prepared(self, client: TestClient) -> None:
        user = register(client)
        iv = prepared_interview(client, user, scheduled_at=future(48))
        assert iv["state"] == "prepared"

    def test_attire_not_needed_by_phone(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user, mode="phone", scheduled_at=future())
        send(client, user, "request", iv["contact_id"], iv["id"])
        body = {
            "research": {"done": True},
            "website": {"done": True},
            "self_assessment": {"done": True},
            "opening_statement": {"done": True, "text": "Hello, I am exploring marketing."},
        }
        r = client.patch(f"{API}/{iv['id']}/checklist", json=body, headers=user.headers)
        assert r.json()["complete"] is True
        assert transition(client, user, iv["id"], "prepared").status_code == 200

    def test_opening_statement_needs_text(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user, scheduled_at=future())
        send(client, user, "request", iv["contact_id"], iv["id"])
        complete_checklist(client, user, iv["id"])
        r = client.patch(
            f"{API}/{iv['id']}/checklist",
            json={"opening_statement": {"text": "   "}},
            headers=user.headers,
        )
        assert r.status_code == 200, r.text
        problem = refused(client, user, iv["id"], "prepared")
        assert problem["errors"] == [
            {
                "code": "checklist_incomplete",
                "message": problem["errors"][0]["message"],
                "missing": ["opening_statement"],
            }
        ]


class TestHeldGuards:
    def test_scheduled_in_future(self, client: TestClient) -> None:
        user = register(client)
        iv = prepared_interview(client, user, scheduled_at=future(2))
        assert error_codes(refused(client, user, iv["id"], "held")) == ["scheduled_in_future"]

    def test_held_at_in_future(self, client: TestClient) -> None:
        user = register(client)
        iv = prepared_interview(client, user)
        problem = refused(client, user, iv["id"], "held", held_at=future(1))
        assert error_codes(problem) == ["held_at_in_future"]

    def test_both_named(self, client: TestClient) -> None:
        user = register(client)
        iv = prepared_interview(client, user, scheduled_at=future(2))
        problem = refused(client, user, iv["id"], "held", held_at=future(3))
        assert error_codes(problem) == ["scheduled_in_future", "held_at_in_future"]

    def test_schedule_cleared_after_prepared(self, client: TestClient) -> None:
        user = register(client)
        iv = prepared_interview(client, user)
        r = client.patch(f"{API}/{iv['id']}", json={"scheduled_at": None}, headers=user.headers)
        assert r.status_code == 200, r.text
        assert error_codes(refused(client, user, iv["id"], "held")) == ["not_scheduled"]

    def test_held_at_without_timezone(self, client: TestClient) -> None:
        user = register(client)
        iv = prepared_interview(client, user)
        r = transition(client, user, iv["id"], "held", held_at="2026-01-01T10:00:00")
        assert_problem(r, 422)

    def test_held_at_only_with_held(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        r = transition(client, user, iv["id"], "cancelled", reason="x", held_at=past(1))
        assert_problem(r, 422)


class TestCancel:
    def test_reason_required(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        assert error_codes(refused(client, user, iv["id"], "cancelled")) == ["reason_required"]
        problem = refused(client, user, iv["id"], "cancelled", reason="   ")
        assert error_codes(problem) == ["reason_required"]

    def test_cancel_from_request(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        r = transition(client, user, iv["id"], "cancelled", reason="No answer after two weeks.")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["state"] == "cancelled"
        assert body["cancel_reason"] == "No answer after two weeks."
        assert body["cancelled_at"] is not None
        [event] = client.get(f"{API}/{iv['id']}/events", headers=user.headers).json()["data"]
        assert event["from_state"] == "request"
        assert event["to_state"] == "cancelled"
        assert event["reason"] == "No answer after two weeks."
        problem = refused(client, user, iv["id"], "prepared")
        assert error_codes(problem) == ["invalid_transition"]
        assert problem["allowed_transitions"] == []

    def test_cancel_from_prepared(self, client: TestClient) -> None:
        user = register(client)
        iv = prepared_interview(client, user)
        r = transition(client, user, iv["id"], "cancelled", reason="They declined.")
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "cancelled"

    def test_not_after_held(self, client: TestClient) -> None:
        user = register(client)
        iv = prepared_interview(client, user)
        assert transition(client, user, iv["id"], "held").status_code == 200
        problem = refused(client, user, iv["id"], "cancelled", reason="too late")
        assert error_codes(problem) == ["invalid_transition"]
        assert problem["allowed_transitions"] == ["thanked"]


class TestOrder:
    def test_skipping_refused(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user, scheduled_at=past(1))
        for to in ("held", "thanked", "reported-back"):
            problem = refused(client, user, iv["id"], to)
            assert error_codes(problem) == ["invalid_transition"]
            assert problem["errors"][0]["from_state"] == "request"
            assert problem["errors"][0]["to_state"] == to

    def test_same_state_refused(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        assert error_codes(refused(client, user, iv["id"], "request")) == ["invalid_transition"]

    def test_backwards_refused(self, client: TestClient) -> None:
        user = register(client)
        iv = prepared_interview(client, user)
        assert transition(client, user, iv["id"], "held").status_code == 200
        for to in ("prepared", "request", "held"):
            assert error_codes(refused(client, user, iv["id"], to)) == ["invalid_transition"]

    def test_unknown_state(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        for body in ({"to": "done"}, {"to": "Prepared"}, {}, {"to": "prepared", "force": True}):
            r = client.post(f"{API}/{iv['id']}/transitions", json=body, headers=user.headers)
            assert_problem(r, 422, "validation_error")
        assert snapshot(client, user, iv["id"])[2] == []


class TestIfMatch:
    def test_stale_etag_is_412_and_changes_nothing(self, client: TestClient) -> None:
        user = register(client)
        iv = prepared_interview(client, user)
        before = snapshot(client, user, iv["id"])
        r = transition(client, user, iv["id"], "held", headers={"If-Match": '"1"'})
        assert_problem(r, 412, "etag_mismatch")
        assert snapshot(client, user, iv["id"]) == before

    def test_current_etag_goes_ahead(self, client: TestClient) -> None:
        user = register(client)
        iv = prepared_interview(client, user)
        etag = client.get(f"{API}/{iv['id']}", headers=user.headers).headers["etag"]
        r = transition(client, user, iv["id"], "held", headers={"If-Match": etag})
        assert r.status_code == 200, r.text
        assert r.headers["etag"] != etag
        assert (
            client.get(f"{API}/{iv['id']}", headers=user.headers).headers["etag"]
            == (r.headers["etag"])
        )


class TestOptions:
    def test_lists_next_states_with_unmet(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user, mode="video")
        r = client.get(f"{API}/{iv['id']}/transitions", headers=user.headers)
        assert r.status_code == 200, r.text
        assert r.headers["etag"] == '"1"'
        [prepared, cancelled] = r.json()
        assert prepared["to"] == "prepared"
        assert prepared["allowed"] is False
        assert [u["code"] for u in prepared["unmet"]] == [
            "request_letter_not_sent",
            "not_scheduled",
            "checklist_incomplete",
        ]
        assert prepared["unmet"][2]["missing"] == [
            "research",
            "website",
            "self_assessment",
            "opening_statement",
        ]
        assert cancelled == {
            "to": "cancelled",
            "allowed": True,
            "unmet": [],
            "required_fields": ["reason"],
        }

    def test_allowed_when_ready(self, client: TestClient) -> None:
        user = register(client)
        iv = prepared_interview(client, user)
        options = client.get(f"{API}/{iv['id']}/transitions", headers=user.headers).json()
        assert [(o["to"], o["allowed"]) for o in options] == [
            ("held", True),
            ("cancelled", True),
        ]


class TestEvents:
    def test_paginated_oldest_first(self, client: TestClient) -> None:
        user = register(client)
        iv = prepared_interview(client, user)
        assert transition(client, user, iv["id"], "held").status_code == 200
        page = client.get(f"{API}/{iv['id']}/events?limit=1", headers=user.headers).json()
        assert [e["to_state"] for e in page["data"]] == ["prepared"]
        assert page["has_more"] is True
        r = client.get(
            f"{API}/{iv['id']}/events",
            params={"limit": 1, "cursor": page["next_cursor"]},
            headers=user.headers,
        )
        assert [e["to_state"] for e in r.json()["data"]] == ["held"]
        assert r.json()["has_more"] is False
        r = client.get(f"{API}/{iv['id']}/events?cursor=%%%", headers=user.headers)
        assert_problem(r, 422)


class TestIsolation:
    def test_another_users_interview_is_404_everywhere(self, client: TestClient) -> None:
        owner = register(client)
        stranger = register(client)
        iv = prepared_interview(client, owner)
        before = snapshot(client, owner, iv["id"])
        base = f"{API}/{iv['id']}"
        h = stranger.headers
        for r in (
            client.get(f"{base}/transitions", headers=h),
            client.post(f"{base}/transitions", json={"to": "held"}, headers=h),
            client.get(f"{base}/events", headers=h),
        ):
            assert_problem(r, 404, "interview_not_found")
        assert snapshot(client, owner, iv["id"]) == before

    def test_missing_interview_is_404(self, client: TestClient) -> None:
        user = register(client)
        r = transition(client, user, str(uuid.uuid4()), "held")
        assert_problem(r, 404, "interview_not_found")
        r = client.post(f"{API}/not-a-uuid/transitions", json={"to": "held"}, headers=user.headers)
        assert_problem(r, 422)

    def test_requires_auth(self, client: TestClient) -> None:
        r = client.post(f"{API}/{uuid.uuid4()}/transitions", json={"to": "held"})
        assert_problem(r, 401)


def test_a_referral_recorded_after_the_guards_looked_stops_the_write(client: TestClient) -> None:
    """The move is written only if the interviewee's referrers are still those its guards
    judged: a referral recorded in between makes the write find nothing, and nothing moves."""
    from app.interviews import repository
    from app.interviews import service as interviews
    from app.kit.queries import new_row
    from app.webhooks.outbox import event_row

    user = register(client)
    interview = create_interview(client, user)
    engine: Any = client.app.state.engine  # type: ignore[attr-defined]
    owner_id, interview_id = uuid.UUID(user.id), uuid.UUID(interview["id"])
    with engine.connect() as connection:
        row = repository.get_with_checklist(connection, owner_id, interview_id)
        facts = interviews.load_facts(connection, row, now=utcnow())
        connection.rollback()
    assert facts.referrers == ()

    referrer = client.post("/api/v1/contacts", json={"full_name": "Ref"}, headers=user.headers)
    r = client.post(
        "/api/v1/referrals",
        json={
            "referrer_id": referrer.json()["id"],
            "referred_id": interview["contact_id"],
            "relationship": "friend",
        },
        headers=user.headers,
    )
    assert r.status_code == 201, r.text

    now = utcnow()
    event = new_row(
        InterviewEvent,
        interview_id=interview_id,
        owner_id=owner_id,
        from_state="request",
        to_state="cancelled",
        at=now,
        actor=user.id,
        reason="changed my mind",
    )
    values = {"state": "cancelled", "cancelled_at": now, "version": row.version + 1}
    with engine.connect() as connection:
        moved = repository.move(
            connection,
            row,
            values,
            referrers=facts.referrers,
            event=event,
            outbox=event_row(owner_id, "interview.state_changed", {"interview_id": interview_id}),
        )
    assert moved is False
    after = client.get(f"/api/v1/interviews/{interview_id}", headers=user.headers).json()
    assert after["state"] == "request"
    events = client.get(f"/api/v1/interviews/{interview_id}/events", headers=user.headers)
    assert [e["to_state"] for e in events.json()["data"]] == []
    # Through the API the move is judged again on the referrers as they now are.
    r = transition(client, user, interview["id"], "cancelled", reason="changed my mind")
    assert r.status_code == 200, r.text
