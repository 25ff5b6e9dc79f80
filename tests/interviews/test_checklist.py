"""The preparation checklist at /api/v1/interviews/{id}/checklist."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from tests.factories import User, assert_problem, register
from tests.factories_interviews import FULL_CHECKLIST, create_interview

API = "/api/v1/interviews"
ITEMS = ["research", "website", "self_assessment", "opening_statement", "attire"]


def patch(client: TestClient, user: User, interview_id: str, body: Any, **headers: str) -> Any:
    return client.patch(
        f"{API}/{interview_id}/checklist", json=body, headers={**user.headers, **headers}
    )


class TestGet:
    def test_shape(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        r = client.get(f"{API}/{iv['id']}/checklist", headers=user.headers)
        assert r.status_code == 200, r.text
        assert r.headers["etag"] == '"1"'
        body = r.json()
        assert body["interview_id"] == iv["id"]
        for item in ITEMS:
            assert {k: body[item][k] for k in ("done", "done_at", "note")} == {
                "done": False,
                "done_at": None,
                "note": None,
            }
        assert body["opening_statement"]["text"] is None
        assert body["complete"] is False
        assert body["missing"] == ITEMS

    def test_attire_only_in_person(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user, mode="phone")
        url = f"{API}/{iv['id']}/checklist"
        assert client.get(url, headers=user.headers).json()["missing"] == ITEMS[:4]
        # The mode decides: switch the interview to in person and attire is required again.
        r = client.patch(f"{API}/{iv['id']}", json={"mode": "in_person"}, headers=user.headers)
        assert r.status_code == 200
        assert client.get(url, headers=user.headers).json()["missing"] == ITEMS


class TestUpdate:
    def test_tick_sets_done_at_and_bumps_the_interview(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        r = patch(client, user, iv["id"], {"research": {"done": True, "note": "Read 10-K"}})
        assert r.status_code == 200, r.text
        assert r.headers["etag"] == '"2"'
        body = r.json()
        assert body["research"]["done"] is True
        assert body["research"]["done_at"] is not None
        assert body["research"]["note"] == "Read 10-K"
        assert body["missing"] == ITEMS[1:]
        interview = client.get(f"{API}/{iv['id']}", headers=user.headers)
        assert interview.headers["etag"] == '"2"'
        assert interview.json()["updated_at"] > iv["updated_at"]
        assert client.get(f"{API}/{iv['id']}/checklist", headers=user.headers).json() == body

    def test_untick_clears_done_at(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        patch(client, user, iv["id"], {"website": {"done": True}})
        r = patch(client, user, iv["id"], {"website": {"done": False}})
        assert r.json()["website"] == {"done": False, "done_at": None, "note": None}
        assert "website" in r.json()["missing"]

    def test_ticking_again_keeps_done_at(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        first = patch(client, user, iv["id"], {"website": {"done": True}})
        again = patch(client, user, iv["id"], {"website": {"done": True}})
        assert again.json()["website"]["done_at"] == first.json()["website"]["done_at"]
        assert again.headers["etag"] == first.headers["etag"]  # nothing changed

    def test_note_only_and_clearing_it(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        r = patch(client, user, iv["id"], {"attire": {"note": "Navy suit"}})
        assert r.json()["attire"] == {"done": False, "done_at": None, "note": "Navy suit"}
        r = patch(client, user, iv["id"], {"attire": {"note": None}})
        assert r.json()["attire"]["note"] is None

    def test_opening_statement_counts_only_with_text(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        r = patch(client, user, iv["id"], {"opening_statement": {"done": True}})
        assert r.json()["opening_statement"]["done"] is True
        assert "opening_statement" in r.json()["missing"]
        r = patch(client, user, iv["id"], {"opening_statement": {"text": "  "}})
        assert "opening_statement" in r.json()["missing"]
        text = "I am a second-year student drawn to brand marketing."
        r = patch(client, user, iv["id"], {"opening_statement": {"text": text}})
        assert r.json()["opening_statement"]["text"] == text
        assert "opening_statement" not in r.json()["missing"]

    def test_complete(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        r = patch(client, user, iv["id"], FULL_CHECKLIST)
        assert r.json()["complete"] is True
        assert r.json()["missing"] == []
        assert all(r.json()[item]["done_at"] for item in ITEMS)

    def test_bad_input(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        for body in (
            {"dress_code": {"done": True}},  # unknown item
            {"research": {"done": True, "text": "x"}},  # text belongs to opening_statement
            {"research": {"checked": True}},  # unknown field
            {"research": {"done": None}},
            {"research": None},
            {"research": True},
            {"research": {"note": "x" * 2001}},
            {"opening_statement": {"text": "x" * 5001}},
            {"complete": True},
            {"missing": []},
            {"interview_id": str(uuid.uuid4())},
            [],
        ):
            assert_problem(patch(client, user, iv["id"], body), 422)
        r = client.get(f"{API}/{iv['id']}/checklist", headers=user.headers)
        assert r.headers["etag"] == '"1"'
        assert r.json()["missing"] == ITEMS

    def test_if_match(self, client: TestClient) -> None:
        user = register(client)
        iv = create_interview(client, user)
        r = patch(client, user, iv["id"], {"research": {"done": True}}, **{"If-Match": '"1"'})
        assert r.status_code == 200, r.text
        assert r.headers["etag"] == '"2"'
        # The interview changed in between (here: its notes), so the old ETag is stale.
        client.patch(f"{API}/{iv['id']}", json={"notes": "x"}, headers=user.headers)
        r = patch(client, user, iv["id"], {"website": {"done": True}}, **{"If-Match": '"2"'})
        assert_problem(r, 412, "etag_mismatch")
        body = client.get(f"{API}/{iv['id']}/checklist", headers=user.headers).json()
        assert body["website"]["done"] is False

    def test_another_users_checklist_is_404(self, client: TestClient) -> None:
        owner = register(client)
        stranger = register(client)
        iv = create_interview(client, owner)
        url = f"{API}/{iv['id']}/checklist"
        assert_problem(client.get(url, headers=stranger.headers), 404, "interview_not_found")
        r = patch(client, stranger, iv["id"], {"research": {"done": True}})
        assert_problem(r, 404, "interview_not_found")
        assert client.get(url, headers=owner.headers).json()["research"]["done"] is False
        assert_problem(client.get(f"{API}/{uuid.uuid4()}/checklist", headers=owner.headers), 404)
