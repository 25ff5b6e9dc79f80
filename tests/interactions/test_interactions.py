"""Interactions over HTTP: calls, voicemails, meetings, messages and replies, and what they do
to the agenda's follow-up, a contact's last contact and the interview's next move."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, select

from app.contacts.schemas import Contact
from app.interactions.schemas import InteractionPublic
from app.interviews import workflow
from app.kit.db import utcnow
from app.kit.schemas import Page
from app.letters.schemas import Letter
from app.vocabulary import Direction, InteractionKind, InterviewState, Outcome
from app.webhooks.schemas import OutboxEvent
from tests.factories import User, assert_problem, register
from tests.factories_interviews import (
    create_contact,
    create_interview,
    create_referral,
    past,
    send,
    transition,
)
from tests.factories_letters import create_letter

API = "/api/v1/interactions"


# --- helpers -----------------------------------------------------------------------------------


def log(client: TestClient, user: User, **fields: Any) -> Any:
    """POST an interaction; the raw response."""
    headers = {**user.headers, **fields.pop("headers", {})}
    return client.post(API, json=fields, headers=headers)


def logged(client: TestClient, user: User, **fields: Any) -> dict[str, Any]:
    r = log(client, user, **fields)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def backdate_letter(client: TestClient, letter: dict[str, Any], sent_at: datetime) -> None:
    """Move a sent letter into the past (sent letters are immutable through the API), and its
    recipient's last contact with it."""
    app: Any = client.app
    with Session(app.state.engine) as session:
        session.execute(
            update(Letter).where(col(Letter.id) == uuid.UUID(letter["id"])).values(sent_at=sent_at)
        )
        session.execute(
            update(Contact)
            .where(col(Contact.id) == uuid.UUID(letter["recipient_id"]))
            .values(last_contacted_at=sent_at)
        )
        session.commit()


def follow_ups(client: TestClient, user: User, interview_id: str, **params: Any) -> list[Any]:
    if isinstance(params.get("due_before"), datetime):
        params["due_before"] = params["due_before"].isoformat()
    r = client.get("/api/v1/agenda", params=params, headers=user.headers)
    assert r.status_code == 200, r.text
    return [
        i
        for i in r.json()["data"]
        if i["kind"] == "follow_up" and i["interview_id"] == interview_id
    ]


def get_contact(client: TestClient, user: User, contact_id: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/contacts/{contact_id}", headers=user.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def outbox(client: TestClient, user: User, event_type: str) -> list[dict[str, Any]]:
    app: Any = client.app
    with Session(app.state.engine) as session:
        rows = session.exec(
            select(OutboxEvent)
            .where(col(OutboxEvent.owner_id) == uuid.UUID(user.id))
            .where(col(OutboxEvent.type) == event_type)
        ).all()
        return [json.loads(row.payload) for row in rows]


def requested(client: TestClient, user: User, **contact: Any) -> dict[str, Any]:
    """An interview whose request letter went out 10 days ago, unanswered."""
    person = create_contact(client, user, **contact)
    interview = create_interview(client, user, contact_id=person["id"])
    letter = send(
        client,
        user,
        "request",
        person["id"],
        interview["id"],
        body="Would you have twenty minutes to tell me about your work?",
    )
    backdate_letter(client, letter, utcnow() - timedelta(days=10))
    return interview


# --- create, read, list, update, delete ------------------------------------------------------


class TestCrud:
    def test_log_read_list_update_delete(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user)
        interview = create_interview(client, user, contact_id=contact["id"])
        r = log(
            client,
            user,
            contact_id=contact["id"],
            interview_id=interview["id"],
            kind="call",
            direction="outbound",
            outcome="no_answer",
            occurred_at=past(2),
            notes="Rang twice.",
        )
        assert r.status_code == 201, r.text
        created = r.json()
        assert r.headers["etag"] == '"1"'
        assert r.headers["location"] == f"{API}/{created['id']}"
        assert created["kind"] == "call" and created["outcome"] == "no_answer"
        assert created["occurred_at"].endswith("Z")
        assert created["suggested_transition"] is None

        r = client.get(f"{API}/{created['id']}", headers=user.headers)
        assert r.status_code == 200 and r.headers["etag"] == '"1"'
        one = r.json()
        assert one == {k: v for k, v in created.items() if k != "suggested_transition"}

        second = logged(
            client, user, contact_id=contact["id"], kind="message", direction="outbound"
        )
        assert second["outcome"] is None and second["interview_id"] is None
        r = client.get(API, params={"limit": 1}, headers=user.headers)
        page = r.json()
        assert [i["id"] for i in page["data"]] == [second["id"]] and page["has_more"]
        r = client.get(API, params={"cursor": page["next_cursor"]}, headers=user.headers)
        assert [i["id"] for i in r.json()["data"]] == [created["id"]]

        r = client.patch(
            f"{API}/{created['id']}",
            json={"outcome": "left_voicemail", "notes": None},
            headers={**user.headers, "If-Match": '"1"'},
        )
        assert r.status_code == 200, r.text
        assert r.headers["etag"] == '"2"'
        assert r.json()["outcome"] == "left_voicemail" and r.json()["notes"] is None

        r = client.delete(f"{API}/{created['id']}", headers=user.headers)
        assert r.status_code == 204
        assert_problem(
            client.get(f"{API}/{created['id']}", headers=user.headers),
            404,
            "interaction_not_found",
        )

    def test_filters(self, client: TestClient) -> None:
        user = register(client)
        jane, john = create_contact(client, user), create_contact(client, user)
        interview = create_interview(client, user, contact_id=jane["id"])
        call = logged(
            client,
            user,
            contact_id=jane["id"],
            interview_id=interview["id"],
            kind="call",
            direction="outbound",
            occurred_at=past(48),
        )
        meeting = logged(client, user, contact_id=john["id"], kind="meeting", direction="outbound")

        def ids(**params: Any) -> list[str]:
            r = client.get(API, params=params, headers=user.headers)
            assert r.status_code == 200, r.text
            return [i["id"] for i in r.json()["data"]]

        assert ids(contact_id=jane["id"]) == [call["id"]]
        assert ids(interview_id=interview["id"]) == [call["id"]]
        assert ids(kind="meeting") == [meeting["id"]]
        assert ids(occurred_after=past(24)) == [meeting["id"]]
        assert ids(occurred_before=past(24)) == [call["id"]]
        assert_problem(client.get(API, params={"kind": "fax"}, headers=user.headers), 422)
        assert_problem(
            client.get(API, params={"occurred_after": "yesterday"}, headers=user.headers), 422
        )

    def test_stale_if_match_is_412_and_nothing_changes(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user)
        created = logged(client, user, contact_id=contact["id"], kind="call", direction="inbound")
        url = f"{API}/{created['id']}"
        r = client.patch(url, json={"notes": "x"}, headers={**user.headers, "If-Match": '"1"'})
        assert r.status_code == 200
        for method in ("PATCH", "DELETE"):
            r = client.request(
                method,
                url,
                json={"notes": "y"} if method == "PATCH" else None,
                headers={**user.headers, "If-Match": '"1"'},
            )
            assert_problem(r, 412, "etag_mismatch")
        assert client.get(url, headers=user.headers).json()["notes"] == "x"

    def test_idempotent_post(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user)
        key = {"Idempotency-Key": f"log-{uuid.uuid4()}"}
        body = {"contact_id": contact["id"], "kind": "reply", "direction": "inbound"}
        first = log(client, user, **body, headers=key)
        again = log(client, user, **body, headers=key)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert again.headers.get("idempotent-replayed") == "true"
        r = client.get(API, headers=user.headers)
        assert len(r.json()["data"]) == 1
        other = log(client, user, **{**body, "notes": "different"}, headers=key)
        assert_problem(other, 422)


# --- what an interaction may be --------------------------------------------------------------


class TestValidation:
    @pytest.mark.parametrize(
        ("kind", "outcome"),
        [
            ("meeting", "left_voicemail"),
            ("message", "left_voicemail"),
            ("reply", "left_voicemail"),
            ("reply", "no_answer"),
            ("reply", "reached"),
            ("voicemail", "reached"),
        ],
    )
    def test_an_outcome_that_does_not_fit_the_kind(
        self, client: TestClient, kind: str, outcome: str
    ) -> None:
        user = register(client)
        contact = create_contact(client, user)
        r = log(
            client, user, contact_id=contact["id"], kind=kind, direction="outbound", outcome=outcome
        )
        problem = assert_problem(r, 422, "outcome_not_for_kind")
        assert problem["errors"][0]["loc"] == ["body", "outcome"]

    def test_a_patch_is_checked_whole(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user)
        call = logged(
            client,
            user,
            contact_id=contact["id"],
            kind="call",
            direction="outbound",
            outcome="left_voicemail",
        )
        r = client.patch(f"{API}/{call['id']}", json={"kind": "meeting"}, headers=user.headers)
        assert_problem(r, 422, "outcome_not_for_kind")
        r = client.patch(f"{API}/{call['id']}", json={"kind": None}, headers=user.headers)
        assert_problem(r, 422)

    def test_bad_bodies(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user)
        base = {"contact_id": contact["id"], "kind": "call", "direction": "outbound"}
        for extra in (
            {"kind": "fax"},
            {"direction": "sideways"},
            {"outcome": "maybe"},
            {"occurred_at": "1700000000"},
            {"occurred_at": "0001-01-01T00:00:00Z"},
            {"occurred_at": "2026-01-01T00:00:00"},
            {"notes": "x" * 20001},
            {"colour": "blue"},
        ):
            assert_problem(log(client, user, **{**base, **extra}), 422)
        r = log(
            client, user, **{**base, "occurred_at": (utcnow() + timedelta(hours=1)).isoformat()}
        )
        assert_problem(r, 422, "occurred_at_in_future")

    def test_a_letter_only_on_an_inbound_reply_to_a_letter_sent_to_that_contact(
        self, client: TestClient
    ) -> None:
        user = register(client)
        contact, other = create_contact(client, user), create_contact(client, user)
        interview = create_interview(client, user, contact_id=contact["id"])
        sent = send(client, user, "request", contact["id"], interview["id"])
        to_other = send(client, user, "keep_in_touch", other["id"], interview["id"])
        draft = create_letter(
            client,
            user,
            kind="follow_up",
            recipient_id=contact["id"],
            interview_id=interview["id"],
            body="Just checking that my note reached you.",
        )
        base = {"contact_id": contact["id"], "kind": "reply", "direction": "inbound"}
        r = log(client, user, **{**base, "kind": "call"}, letter_id=sent["id"])
        assert_problem(r, 422, "letter_not_for_kind")
        r = log(client, user, **{**base, "direction": "outbound"}, letter_id=sent["id"])
        assert_problem(r, 422, "letter_not_for_kind")
        assert_problem(log(client, user, **base, letter_id=draft["id"]), 422, "letter_mismatch")
        assert_problem(log(client, user, **base, letter_id=to_other["id"]), 422, "letter_mismatch")
        reply = logged(client, user, **base, letter_id=sent["id"], outcome="agreed")
        assert reply["letter_id"] == sent["id"]

    def test_the_interview_is_with_the_contact_or_their_referrer(self, client: TestClient) -> None:
        user = register(client)
        interviewee, referrer, stranger = (create_contact(client, user) for _ in range(3))
        create_referral(client, user, referrer["id"], interviewee["id"])
        interview = create_interview(client, user, contact_id=interviewee["id"])
        base = {"kind": "call", "direction": "outbound", "interview_id": interview["id"]}
        r = log(client, user, **base, contact_id=stranger["id"])
        problem = assert_problem(r, 422, "interview_contact_mismatch")
        assert problem["errors"][0]["loc"] == ["body", "interview_id"]
        logged(client, user, **base, contact_id=referrer["id"])  # reporting back by phone
        logged(client, user, **base, contact_id=interviewee["id"])

    def test_a_contact_with_interactions_is_kept(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user)
        logged(client, user, contact_id=contact["id"], kind="call", direction="outbound")
        r = client.delete(f"/api/v1/contacts/{contact['id']}", headers=user.headers)
        problem = assert_problem(r, 409, "contact_in_use")
        assert problem["referenced_by"] == ["interaction"]


# --- one user's interactions are theirs alone ---------------------------------------------


class TestIsolation:
    def test_another_users_interaction_and_references(self, client: TestClient) -> None:
        alice, bob = register(client), register(client)
        a_contact = create_contact(client, alice)
        a_interview = create_interview(client, alice, contact_id=a_contact["id"])
        a_letter = send(client, alice, "request", a_contact["id"], a_interview["id"])
        a_call = logged(
            client, alice, contact_id=a_contact["id"], kind="call", direction="outbound"
        )
        url = f"{API}/{a_call['id']}"
        for method, body in (("GET", None), ("PATCH", {"notes": "mine"}), ("DELETE", None)):
            for extra in ({}, {"If-Match": '"1"'}):
                r = client.request(method, url, json=body, headers={**bob.headers, **extra})
                assert_problem(r, 404, "interaction_not_found")
        assert client.get(API, headers=bob.headers).json()["data"] == []
        r = client.get(API, params={"contact_id": a_contact["id"]}, headers=bob.headers)
        assert r.json()["data"] == []

        # Alice's rows named in Bob's bodies are the answer for rows that exist nowhere.
        b_contact = create_contact(client, bob)
        b_interview = create_interview(client, bob, contact_id=b_contact["id"])
        b_call = logged(client, bob, contact_id=b_contact["id"], kind="call", direction="outbound")
        ghost = str(uuid.uuid4())
        reply = {"kind": "reply", "direction": "inbound"}
        for field, value, body in (
            ("contact_id", a_contact["id"], {"contact_id": a_contact["id"], **reply}),
            (
                "interview_id",
                a_interview["id"],
                {"contact_id": b_contact["id"], "interview_id": a_interview["id"], **reply},
            ),
            (
                "letter_id",
                a_letter["id"],
                {"contact_id": b_contact["id"], "letter_id": a_letter["id"], **reply},
            ),
        ):
            mine = log(client, bob, **body)
            nowhere = log(client, bob, **{**body, field: ghost})
            problem = assert_problem(mine, 422, "invalid_reference")
            assert problem["errors"][0]["loc"] == ["body", field]
            assert nowhere.json()["code"] == problem["code"]
            assert value not in mine.text
        r = client.patch(
            f"{API}/{b_call['id']}", json={"interview_id": a_interview["id"]}, headers=bob.headers
        )
        assert_problem(r, 422, "invalid_reference")
        r = client.patch(
            f"{API}/{b_call['id']}", json={"interview_id": b_interview["id"]}, headers=bob.headers
        )
        assert r.status_code == 200, r.text
        assert len(client.get(API, headers=bob.headers).json()["data"]) == 1
        assert client.get(url, headers=alice.headers).json() == {
            k: v for k, v in a_call.items() if k != "suggested_transition"
        }


# --- the follow-up, by phone --------------------------------------------------------------


class TestFollowUp:
    def test_a_reached_call_is_the_follow_up_and_the_last_contact(self, client: TestClient) -> None:
        user = register(client)
        interview = requested(client, user, full_name="Jane Doe", phone="+1 555 0100")
        contact_id = interview["contact_id"]
        [item] = follow_ups(client, user, interview["id"])
        assert item["overdue"] is True
        assert item["action"] == "call" and item["phone"] == "+1 555 0100"
        assert "Call Jane Doe at +1 555 0100" in item["title"]
        before = get_contact(client, user, contact_id)["last_contacted_at"]

        # No answer: nothing changes.
        logged(
            client,
            user,
            contact_id=contact_id,
            interview_id=interview["id"],
            kind="call",
            direction="outbound",
            outcome="no_answer",
        )
        assert len(follow_ups(client, user, interview["id"])) == 1
        assert get_contact(client, user, contact_id)["last_contacted_at"] == before

        call = logged(
            client,
            user,
            contact_id=contact_id,
            interview_id=interview["id"],
            kind="call",
            direction="outbound",
            outcome="reached",
        )
        assert follow_ups(client, user, interview["id"], due_before=utcnow()) == []
        assert get_contact(client, user, contact_id)["last_contacted_at"] == call["occurred_at"]
        # As after a follow-up letter, the clock starts again from the call.
        [item] = follow_ups(client, user, interview["id"], due_before=utcnow() + timedelta(days=8))
        assert parse(item["due_at"]) == parse(call["occurred_at"]) + timedelta(days=7)
        assert "to set a time" in item["title"]

        # Deleting the call puts everything back.
        assert client.delete(f"{API}/{call['id']}", headers=user.headers).status_code == 204
        assert len(follow_ups(client, user, interview["id"])) == 1
        assert get_contact(client, user, contact_id)["last_contacted_at"] == before

    @pytest.mark.parametrize(
        "shape",
        [
            {"kind": "reply", "direction": "inbound"},
            {"kind": "message", "direction": "inbound", "outcome": "agreed"},
            {"kind": "meeting", "direction": "outbound", "outcome": "agreed"},
        ],
    )
    def test_a_reply_or_a_yes_clears_it(self, client: TestClient, shape: dict[str, str]) -> None:
        user = register(client)
        interview = requested(client, user)
        logged(
            client, user, contact_id=interview["contact_id"], interview_id=interview["id"], **shape
        )
        assert follow_ups(client, user, interview["id"], due_before=utcnow()) == []

    @pytest.mark.parametrize(
        "shape",
        [
            {"kind": "call", "direction": "outbound", "outcome": "no_answer"},
            {"kind": "call", "direction": "outbound", "outcome": "left_voicemail"},
            {"kind": "voicemail", "direction": "outbound"},
            {"kind": "message", "direction": "outbound"},
            {"kind": "reply", "direction": "outbound"},
        ],
    )
    def test_what_does_not_reach_them_leaves_it(
        self, client: TestClient, shape: dict[str, str]
    ) -> None:
        user = register(client)
        interview = requested(client, user)
        logged(
            client, user, contact_id=interview["contact_id"], interview_id=interview["id"], **shape
        )
        assert len(follow_ups(client, user, interview["id"])) == 1

    def test_an_answer_before_the_request_or_about_nothing_does_not_count(
        self, client: TestClient
    ) -> None:
        user = register(client)
        interview = requested(client, user)
        contact_id = interview["contact_id"]
        reached = {"kind": "call", "direction": "outbound", "outcome": "reached"}
        logged(
            client,
            user,
            contact_id=contact_id,
            interview_id=interview["id"],
            occurred_at=(utcnow() - timedelta(days=11)).isoformat(),
            **reached,
        )
        logged(client, user, contact_id=contact_id, **reached)  # no interview named
        assert len(follow_ups(client, user, interview["id"])) == 1
        # Still, both were contact.
        last = get_contact(client, user, contact_id)["last_contacted_at"]
        assert parse(last) > utcnow() - timedelta(minutes=5)

    def test_without_a_phone_number_the_item_stays_a_letter(self, client: TestClient) -> None:
        user = register(client)
        interview = requested(client, user, full_name="No Phone")
        [item] = follow_ups(client, user, interview["id"])
        assert item["action"] == "letter" and item["phone"] is None
        assert item["title"] == (
            "Follow up with No Phone on your request for an informational interview "
            "(a call or a follow-up letter)"
        )

    def test_a_later_letter_takes_over_from_the_answer(self, client: TestClient) -> None:
        user = register(client)
        interview = requested(client, user)
        contact_id = interview["contact_id"]
        logged(
            client,
            user,
            contact_id=contact_id,
            interview_id=interview["id"],
            kind="reply",
            direction="inbound",
            occurred_at=(utcnow() - timedelta(days=9)).isoformat(),
        )
        [item] = follow_ups(client, user, interview["id"])  # 9 days: due again
        follow = send(client, user, "follow_up", contact_id, interview["id"])
        [item] = follow_ups(client, user, interview["id"], due_before=utcnow() + timedelta(days=8))
        assert parse(item["due_at"]) == parse(follow["sent_at"]) + timedelta(days=7)


# --- a refusal, and the webhook -------------------------------------------------------------


class TestDeclinedAndEvents:
    def test_declined_before_held_suggests_cancelling_and_changes_nothing(
        self, client: TestClient
    ) -> None:
        user = register(client)
        interview = requested(client, user)
        r = log(
            client,
            user,
            contact_id=interview["contact_id"],
            interview_id=interview["id"],
            kind="reply",
            direction="inbound",
            outcome="declined",
        )
        assert r.status_code == 201, r.text
        hint = r.json()["suggested_transition"]
        assert hint["to"] == "cancelled" and hint["reason"]
        state = client.get(f"/api/v1/interviews/{interview['id']}", headers=user.headers).json()
        assert state["state"] == "request"
        assert (
            transition(
                client, user, interview["id"], "cancelled", reason=hint["reason"]
            ).status_code
            == 200
        )
        # Once cancelled, nothing more to suggest.
        r = log(
            client,
            user,
            contact_id=interview["contact_id"],
            interview_id=interview["id"],
            kind="call",
            direction="inbound",
            outcome="declined",
        )
        assert r.json()["suggested_transition"] is None

    def test_declined_without_an_interview_suggests_nothing(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user)
        body = logged(
            client,
            user,
            contact_id=contact["id"],
            kind="call",
            direction="outbound",
            outcome="declined",
        )
        assert body["suggested_transition"] is None

    def test_logged_and_updated_events_are_in_the_outbox(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user)
        call = logged(client, user, contact_id=contact["id"], kind="call", direction="outbound")
        [event] = outbox(client, user, "interaction.logged")
        assert event["type"] == "interaction.logged"
        assert event["data"] == {k: v for k, v in call.items() if k != "suggested_transition"}
        r = client.patch(f"{API}/{call['id']}", json={"notes": "later"}, headers=user.headers)
        assert r.status_code == 200
        [event] = outbox(client, user, "interaction.updated")
        assert event["data"]["notes"] == "later"
        r = client.post(
            "/api/v1/webhooks",
            json={"url": "https://example.com/hook", "event_types": ["interaction.logged"]},
            headers=user.headers,
        )
        assert r.status_code == 201, r.text

    def test_a_token_needs_the_interactions_scopes(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user)

        def token(*scopes: str) -> dict[str, str]:
            r = client.post(
                "/api/v1/tokens", json={"name": "t", "scopes": list(scopes)}, headers=user.headers
            )
            assert r.status_code == 201, r.text
            return {"Authorization": f"Bearer {r.json()['token']}"}

        body = {"contact_id": contact["id"], "kind": "call", "direction": "outbound"}
        reader = token("interactions:read")
        assert client.get(API, headers=reader).status_code == 200
        assert_problem(client.post(API, json=body, headers=reader), 403, "insufficient_scope")
        assert_problem(client.get(API, headers=token("contacts:read")), 403, "insufficient_scope")
        r = client.post(API, json=body, headers=token("interactions:write"))
        assert r.status_code == 201, r.text


# --- the account export ----------------------------------------------------------------------


class TestExport:
    def test_export_and_import_keep_interactions(self, client: TestClient) -> None:
        alice = register(client)
        interview = requested(client, alice, phone="+44 20 7946 0000")
        contact_id = interview["contact_id"]
        letter = client.get("/api/v1/letters", headers=alice.headers).json()["data"][0]
        reply = logged(
            client,
            alice,
            contact_id=contact_id,
            interview_id=interview["id"],
            letter_id=letter["id"],
            kind="reply",
            direction="inbound",
            outcome="agreed",
            notes="Happy to talk next week.",
        )
        r = client.get("/api/v1/export", headers=alice.headers)
        assert r.status_code == 200, r.text
        document = r.json()
        [exported] = document["interactions"]
        assert exported["notes"] == "Happy to talk next week."
        assert exported["letter_id"] == letter["id"]

        bob = register(client)
        r = client.post("/api/v1/import", json=document, headers=bob.headers)
        assert r.status_code == 200, r.text
        assert r.json()["interactions"] == 1
        [restored] = client.get(API, headers=bob.headers).json()["data"]
        [b_interview] = client.get("/api/v1/interviews", headers=bob.headers).json()["data"]
        [b_letter] = client.get("/api/v1/letters", headers=bob.headers).json()["data"]
        assert restored["id"] != reply["id"]
        assert restored["interview_id"] == b_interview["id"]
        assert restored["letter_id"] == b_letter["id"]
        assert restored["contact_id"] == b_interview["contact_id"]
        same = ("kind", "direction", "outcome", "occurred_at", "notes", "created_at")
        assert {k: restored[k] for k in same} == {k: reply[k] for k in same}
        # Derived again: the reply is the last contact, and it answered the request.
        contact = get_contact(client, bob, b_interview["contact_id"])
        assert contact["last_contacted_at"] == reply["occurred_at"]
        assert follow_ups(client, bob, b_interview["id"], due_before=utcnow()) == []
        again = client.get("/api/v1/export", headers=bob.headers).json()
        assert len(again["interactions"]) == 1

    def test_an_import_with_a_dangling_reference_is_refused(self, client: TestClient) -> None:
        alice = register(client)
        contact = create_contact(client, alice)
        logged(client, alice, contact_id=contact["id"], kind="call", direction="outbound")
        document = client.get("/api/v1/export", headers=alice.headers).json()
        document["interactions"][0]["interview_id"] = str(uuid.uuid4())
        bob = register(client)
        r = client.post("/api/v1/import", json=document, headers=bob.headers)
        problem = assert_problem(r, 422)
        assert problem["errors"][0]["loc"] == ["body", "interactions", 0, "interview_id"]
        assert client.get(API, headers=bob.headers).json()["data"] == []


class TestKeptWhenItsInterviewGoes:
    def test_deleting_the_interview_keeps_the_interaction_with_the_contact(
        self, client: TestClient
    ) -> None:
        user = register(client)
        contact = create_contact(client, user)
        interview = create_interview(client, user, contact_id=contact["id"])
        call = logged(
            client,
            user,
            contact_id=contact["id"],
            interview_id=interview["id"],
            kind="call",
            direction="outbound",
            outcome="reached",
        )
        r = client.delete(f"/api/v1/interviews/{interview['id']}", headers=user.headers)
        assert r.status_code == 204, r.text
        kept = client.get(f"{API}/{call['id']}", headers=user.headers).json()
        assert kept["interview_id"] is None and kept["contact_id"] == contact["id"]


# --- the rules themselves, against a table written out by hand -------------------------------

KINDS = ("call", "voicemail", "meeting", "message", "reply")
OUTCOMES = ("reached", "no_answer", "left_voicemail", "agreed", "declined")
FITS = {
    "call": set(OUTCOMES),
    "voicemail": {"left_voicemail", "agreed", "declined"},
    "meeting": {"reached", "agreed", "declined"},
    "message": {"no_answer", "agreed", "declined"},
    "reply": {"agreed", "declined"},
}


def oracle_answered(kind: str, direction: str, outcome: str | None) -> bool:
    if kind == "call" and direction == "outbound" and outcome == "reached":
        return True
    if kind == "reply" and direction == "inbound":
        return True
    return outcome == "agreed"


@pytest.mark.parametrize("kind", KINDS)
def test_the_rules_match_the_table(kind: str) -> None:
    for outcome in (None, *OUTCOMES):
        value = Outcome(outcome) if outcome else None
        fits = outcome is None or outcome in FITS[kind]
        assert workflow.outcome_fits(InteractionKind(kind), value) is fits, (kind, outcome)
        for direction in ("outbound", "inbound"):
            got = workflow.answered(InteractionKind(kind), Direction(direction), value)
            assert got is oracle_answered(kind, direction, outcome), (kind, direction, outcome)
        for state in InterviewState:
            hint = workflow.suggested_move(state, value)
            expected = outcome == "declined" and state.value in ("request", "prepared")
            assert (hint is not None) is expected, (state, outcome)


def test_a_page_of_interactions_is_the_models_json_exactly(client: TestClient) -> None:
    """The list writes its rows as ``Page[InteractionPublic]`` writes the validated models."""
    user = register(client)
    contact = create_contact(client, user)
    interview = create_interview(client, user, contact_id=contact["id"])
    # Every kind of value a row holds: ids and a null one, each enum, a time, unicode text.
    answered = {"kind": "meeting", "direction": "inbound", "outcome": "reached"}
    about = {"contact_id": contact["id"], "interview_id": interview["id"]}
    logged(client, user, **about, **answered, occurred_at=past(3), notes="Café — ünïcode.")
    logged(client, user, contact_id=contact["id"], kind="message", direction="outbound")
    for params in ({"limit": 1}, {}):
        r = client.get(API, params=params, headers=user.headers)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        expected = Page[InteractionPublic].model_validate(r.json()).model_dump_json().encode()
        assert r.content == expected
