"""The interviews resource: create, get, list, update, delete."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.contacts.schemas import Contact
from app.interviews.schemas import InterviewEvent, PrepChecklist
from app.kit.db import utcnow
from tests.factories import assert_problem, register
from tests.factories_interviews import (
    create_contact,
    create_interview,
    create_referral,
    future,
    past,
    prepared_interview,
    send,
    transition,
)
from tests.factories_letters import set_interview

API = "/api/v1/interviews"


def _session(client: TestClient) -> Session:
    app: Any = client.app
    return Session(app.state.engine)


class TestCreate:
    def test_minimal(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user)
        r = client.post(API, json={"contact_id": contact["id"]}, headers=user.headers)
        assert r.status_code == 201, r.text
        body = r.json()
        assert r.headers["location"] == f"{API}/{body['id']}"
        assert r.headers["etag"] == '"1"'
        assert uuid.UUID(body["id"]).version == 7
        assert body["state"] == "request"
        assert body["requested_at"] is not None
        assert body["mode"] == "in_person"
        assert body["decision"] == "undecided"
        assert body["questions"] == []
        for name in ("prepared_at", "held_at", "thanked_at", "reported_back_at", "cancelled_at"):
            assert body[name] is None
        # The checklist is created with the interview.
        r = client.get(f"{API}/{body['id']}/checklist", headers=user.headers)
        assert r.status_code == 200, r.text
        assert r.json()["complete"] is False

    def test_every_field(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user)
        referrer = create_contact(client, user)
        referral = create_referral(client, user, referrer["id"], contact["id"])
        fields = {
            "contact_id": contact["id"],
            "referral_id": referral["id"],
            "mode": "video",
            "scheduled_at": "2026-12-01T15:30:00+01:00",
            "duration_minutes": 30,
            "location": "https://meet.example.com/abc",
            "career_field": "accounting",
            "organization": "Acme Audit",
            "notes": "Met at the alumni evening.",
            "questions": [
                {"question": "How did you get started?", "answer": "Internship."},
                {"question": "What does a typical week look like?"},
            ],
            "advice": "Talk to people in tax, too.",
            "next_steps": "Read the annual report.",
            "decision": "pursue",
            "external_id": "crm-42",
            "source": "crm",
        }
        r = client.post(API, json=fields, headers=user.headers)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["scheduled_at"] == "2026-12-01T14:30:00Z"
        assert body["questions"][1] == {
            "question": "What does a typical week look like?",
            "answer": None,
        }
        for key in ("referral_id", "mode", "duration_minutes", "decision", "external_id"):
            assert body[key] == fields[key]
        assert client.get(f"{API}/{body['id']}", headers=user.headers).json() == body

    def test_contact_must_be_mine(self, client: TestClient) -> None:
        user = register(client)
        other = register(client)
        theirs = create_contact(client, other)
        for contact_id in (theirs["id"], str(uuid.uuid4())):
            r = client.post(API, json={"contact_id": contact_id}, headers=user.headers)
            body = assert_problem(r, 422, "invalid_reference")
            assert body["errors"][0]["loc"] == ["body", "contact_id"]
        assert_problem(client.post(API, json={}, headers=user.headers), 422)

    def test_referral_must_be_mine_and_lead_to_the_interviewee(self, client: TestClient) -> None:
        user = register(client)
        a, b, c = (create_contact(client, user) for _ in range(3))
        referral = create_referral(client, user, a["id"], b["id"])
        r = client.post(
            API, json={"contact_id": c["id"], "referral_id": referral["id"]}, headers=user.headers
        )
        body = assert_problem(r, 422, "referral_mismatch")
        assert body["errors"][0]["loc"] == ["body", "referral_id"]

        other = register(client)
        x, y = create_contact(client, other), create_contact(client, other)
        theirs = create_referral(client, other, x["id"], y["id"])
        r = client.post(
            API, json={"contact_id": b["id"], "referral_id": theirs["id"]}, headers=user.headers
        )
        assert_problem(r, 422, "invalid_reference")

    def test_bad_input(self, client: TestClient) -> None:
        user = register(client)
        contact_id = create_contact(client, user)["id"]
        bad: list[dict[str, Any]] = [
            {"scheduled_at": "2026-12-01T15:30:00"},  # no timezone
            {"scheduled_at": "next tuesday"},
            {"duration_minutes": 0},
            {"duration_minutes": 1441},
            {"mode": "carrier_pigeon"},
            {"decision": "maybe"},
            {"questions": [{"question": ""}]},
            {"questions": [{"question": "x" * 1001}]},
            {"questions": [{"question": "Why?", "answer": "x" * 10001}]},
            {"questions": [{"question": "Why?", "extra": 1}]},
            {"questions": [{"question": f"Q{i}"} for i in range(101)]},
            {"state": "held"},
            {"held_at": past(1)},
            {"requested_at": past(1)},
            {"version": 3},
            {"external_id": "x"},
            {"source": "crm"},
            {"location": "x" * 2049},
        ]
        for extra in bad:
            r = client.post(API, json={"contact_id": contact_id, **extra}, headers=user.headers)
            assert_problem(r, 422)
        assert client.get(API, headers=user.headers).json()["data"] == []

    def test_external_id_unique_per_user_and_source(self, client: TestClient) -> None:
        user = register(client)
        contact_id = create_contact(client, user)["id"]
        ref = {"contact_id": contact_id, "external_id": "e-1", "source": "crm"}
        assert client.post(API, json=ref, headers=user.headers).status_code == 201
        assert_problem(client.post(API, json=ref, headers=user.headers), 409, "external_id_taken")
        other_source = {**ref, "source": "ats"}
        assert client.post(API, json=other_source, headers=user.headers).status_code == 201
        other = register(client)
        theirs = {**ref, "contact_id": create_contact(client, other)["id"]}
        assert client.post(API, json=theirs, headers=other.headers).status_code == 201


class TestGet:
    def test_get(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        r = client.get(f"{API}/{iv['id']}", headers=user.headers)
        assert r.status_code == 200
        assert r.headers["etag"] == '"1"'
        assert r.json() == iv

    def test_not_found(self, client: TestClient) -> None:
        user = register(client)
        assert_problem(
            client.get(f"{API}/{uuid.uuid4()}", headers=user.headers), 404, "interview_not_found"
        )
        assert_problem(client.get(f"{API}/12345", headers=user.headers), 422)

    def test_requires_auth(self, client: TestClient) -> None:
        assert_problem(client.get(f"{API}/{uuid.uuid4()}"), 401)
        assert_problem(client.get(API), 401)


class TestList:
    def test_pages_newest_first(self, client: TestClient) -> None:
        user = register(client)
        contact_id = create_contact(client, user)["id"]
        ids = [create_interview(client, user, contact_id=contact_id)["id"] for _ in range(5)]
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = client.get(API, params=params, headers=user.headers).json()
            seen += [i["id"] for i in page["data"]]
            if not page["has_more"]:
                assert page["next_cursor"] is None
                break
            cursor = page["next_cursor"]
        assert seen == list(reversed(ids))

    def test_filters(self, client: TestClient) -> None:
        user = register(client)
        a = create_contact(client, user)["id"]
        b = create_contact(client, user)["id"]
        soon = create_interview(client, user, contact_id=a, scheduled_at=future(24))
        later = create_interview(
            client, user, contact_id=b, scheduled_at=future(24 * 10), mode="phone"
        )
        unscheduled = create_interview(
            client, user, contact_id=a, mode="email", external_id="x-1", source="crm"
        )
        cancelled = create_interview(client, user, contact_id=b)
        assert (
            transition(client, user, cancelled["id"], "cancelled", reason="no").status_code == 200
        )

        def ids(**params: Any) -> set[str]:
            r = client.get(API, params=params, headers=user.headers)
            assert r.status_code == 200, r.text
            return {i["id"] for i in r.json()["data"]}

        assert ids(state="cancelled") == {cancelled["id"]}
        assert ids(state="request") == {soon["id"], later["id"], unscheduled["id"]}
        assert ids(state="reported-back") == set()
        assert ids(contact_id=a) == {soon["id"], unscheduled["id"]}
        assert ids(mode="phone") == {later["id"]}
        assert ids(scheduled_after=future(48)) == {later["id"]}
        assert ids(scheduled_before=future(48)) == {soon["id"]}
        assert ids(scheduled_after=past(1), scheduled_before=future(24 * 30)) == {
            soon["id"],
            later["id"],
        }
        assert ids(source="crm", external_id="x-1") == {unscheduled["id"]}
        assert ids(updated_since=future(1)) == set()
        updated = client.get(f"{API}/{cancelled['id']}", headers=user.headers).json()
        assert cancelled["id"] in ids(updated_since=updated["updated_at"])

    def test_bad_filters(self, client: TestClient) -> None:
        user = register(client)
        for params in (
            {"state": "done"},
            {"mode": "fax"},
            {"contact_id": "nope"},
            {"scheduled_after": "2026-12-01T10:00:00"},
            {"updated_since": "yesterday"},
            {"limit": 0},
            {"limit": 101},
            {"cursor": "!!"},
        ):
            assert_problem(client.get(API, params=params, headers=user.headers), 422)

    def test_only_my_interviews(self, client: TestClient) -> None:
        owner = register(client)
        stranger = register(client)
        iv = create_interview(client, owner)
        assert client.get(API, headers=stranger.headers).json()["data"] == []
        r = client.get(API, params={"contact_id": iv["contact_id"]}, headers=stranger.headers)
        assert r.json()["data"] == []


class TestUpdate:
    def test_update_fields(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user, notes="first", location="Cafe")
        r = client.patch(
            f"{API}/{iv['id']}",
            json={
                "notes": "second",
                "location": None,
                "mode": "phone",
                "scheduled_at": "2026-12-01T09:00:00-05:00",
                "questions": [{"question": "How?", "answer": "Slowly."}],
                "decision": "not_pursue",
            },
            headers=user.headers,
        )
        assert r.status_code == 200, r.text
        assert r.headers["etag"] == '"2"'
        body = r.json()
        assert body["notes"] == "second"
        assert body["location"] is None
        assert body["mode"] == "phone"
        assert body["scheduled_at"] == "2026-12-01T14:00:00Z"
        assert body["questions"] == [{"question": "How?", "answer": "Slowly."}]
        assert body["decision"] == "not_pursue"
        assert body["state"] == "request"
        assert body["updated_at"] > iv["updated_at"]
        assert client.get(f"{API}/{iv['id']}", headers=user.headers).json() == body

    def test_empty_patch_changes_nothing(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        r = client.patch(f"{API}/{iv['id']}", json={}, headers=user.headers)
        assert r.status_code == 200
        assert r.headers["etag"] == '"1"'
        assert r.json() == iv

    def test_read_only_fields_refused(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        other_contact = create_contact(client, user)["id"]
        for body in (
            {"state": "prepared"},
            {"contact_id": other_contact},
            {"requested_at": past(1)},
            {"prepared_at": past(1)},
            {"held_at": past(1)},
            {"thanked_at": past(1)},
            {"reported_back_at": past(1)},
            {"cancelled_at": past(1)},
            {"cancel_reason": "x"},
            {"id": str(uuid.uuid4())},
            {"mode": None},
            {"decision": None},
            {"questions": None},
            {"scheduled_at": "2026-12-01T10:00:00"},
            {"duration_minutes": 2000},
        ):
            r = client.patch(f"{API}/{iv['id']}", json=body, headers=user.headers)
            assert_problem(r, 422)
        after = client.get(f"{API}/{iv['id']}", headers=user.headers)
        assert after.json() == iv
        assert after.headers["etag"] == '"1"'

    def test_referral_must_lead_to_the_interviewee(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        a, b = create_contact(client, user), create_contact(client, user)
        wrong = create_referral(client, user, a["id"], b["id"])
        right = create_referral(client, user, a["id"], iv["contact_id"])
        r = client.patch(
            f"{API}/{iv['id']}", json={"referral_id": wrong["id"]}, headers=user.headers
        )
        assert_problem(r, 422, "referral_mismatch")
        r = client.patch(
            f"{API}/{iv['id']}", json={"referral_id": right["id"]}, headers=user.headers
        )
        assert r.status_code == 200, r.text
        assert r.json()["referral_id"] == right["id"]
        r = client.patch(f"{API}/{iv['id']}", json={"referral_id": None}, headers=user.headers)
        assert r.json()["referral_id"] is None

    def test_external_id(self, client: TestClient) -> None:
        user = register(client)
        first = create_interview(client, user, external_id="e-1", source="crm")
        second = create_interview(client, user)
        url = f"{API}/{second['id']}"
        r = client.patch(url, json={"external_id": "e-1", "source": "crm"}, headers=user.headers)
        assert_problem(r, 409, "external_id_taken")
        assert_problem(client.patch(url, json={"external_id": "e-2"}, headers=user.headers), 422)
        r = client.patch(url, json={"external_id": "e-2", "source": "crm"}, headers=user.headers)
        assert r.status_code == 200, r.text
        # Clearing one of the pair alone would break it; clearing both is fine.
        url = f"{API}/{first['id']}"
        assert_problem(client.patch(url, json={"source": None}, headers=user.headers), 422)
        r = client.patch(url, json={"source": None, "external_id": None}, headers=user.headers)
        assert r.status_code == 200, r.text

    def test_if_match(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user, notes="one")
        url = f"{API}/{iv['id']}"
        r = client.patch(url, json={"notes": "two"}, headers={**user.headers, "If-Match": '"1"'})
        assert r.status_code == 200, r.text
        r = client.patch(url, json={"notes": "three"}, headers={**user.headers, "If-Match": '"1"'})
        assert_problem(r, 412, "etag_mismatch")
        assert client.get(url, headers=user.headers).json()["notes"] == "two"


class TestDelete:
    def test_delete_with_checklist_and_events(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        assert transition(client, user, iv["id"], "cancelled", reason="no").status_code == 200
        r = client.delete(f"{API}/{iv['id']}", headers=user.headers)
        assert r.status_code == 204, r.text
        assert_problem(client.get(f"{API}/{iv['id']}", headers=user.headers), 404)
        assert_problem(client.get(f"{API}/{iv['id']}/checklist", headers=user.headers), 404)
        with _session(client) as session:
            iid = uuid.UUID(iv["id"])
            assert session.get(PrepChecklist, iid) is None
            events = session.exec(select(InterviewEvent).where(InterviewEvent.interview_id == iid))
            assert events.all() == []

    def test_in_use_by_a_letter(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        send(client, user, "request", iv["contact_id"], iv["id"])
        r = client.delete(f"{API}/{iv['id']}", headers=user.headers)
        assert_problem(r, 409, "interview_in_use")
        assert client.get(f"{API}/{iv['id']}", headers=user.headers).status_code == 200

    def test_refreshes_last_contacted(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        set_interview(client, iv["id"], state="held")
        with _session(client) as session:
            contact = session.get(Contact, uuid.UUID(iv["contact_id"]))
            assert contact is not None
            contact.last_contacted_at = utcnow() - timedelta(minutes=1)
            session.add(contact)
            session.commit()
        assert client.delete(f"{API}/{iv['id']}", headers=user.headers).status_code == 204
        with _session(client) as session:
            contact = session.get(Contact, uuid.UUID(iv["contact_id"]))
            assert contact is not None
            assert contact.last_contacted_at is None

    def test_if_match(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        url = f"{API}/{iv['id']}"
        assert client.patch(url, json={"notes": "x"}, headers=user.headers).status_code == 200
        r = client.delete(url, headers={**user.headers, "If-Match": '"1"'})
        assert_problem(r, 412, "etag_mismatch")
        assert client.delete(url, headers={**user.headers, "If-Match": '"2"'}).status_code == 204


class TestIsolation:
    def test_another_users_interview_is_404_on_every_method(self, client: TestClient) -> None:
        owner = register(client)
        stranger = register(client)
        iv = prepared_interview(client, owner)
        url = f"{API}/{iv['id']}"
        h = stranger.headers
        for r in (
            client.get(url, headers=h),
            client.patch(url, json={"notes": "mine now"}, headers=h),
            client.delete(url, headers=h),
            client.get(f"{url}/checklist", headers=h),
            client.patch(f"{url}/checklist", json={"research": {"done": False}}, headers=h),
            client.get(f"{url}/transitions", headers=h),
            client.post(f"{url}/transitions", json={"to": "held"}, headers=h),
            client.get(f"{url}/events", headers=h),
        ):
            assert_problem(r, 404, "interview_not_found")
        r = client.get(url, headers=owner.headers)
        assert r.json() == iv
