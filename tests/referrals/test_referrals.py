"""Referrals over HTTP: who gave the lead to whom, recorded once, between one user's contacts."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.interviews.schemas import Interview
from app.kit.config import Settings
from app.referrals.schemas import Referral
from tests.factories import User, assert_problem, register
from tests.factories_contacts import (
    create_contact,
    create_referral,
    insert_interview,
    race_with_uncommitted_insert,
)

BASE = "/api/v1/referrals"
MISSING_ID = "01a21570-0000-7000-8000-000000000000"
WIRE_NAMES = {"id", "referrer_id", "referred_id", "relationship", "notes", "referred_on"}


def _ids(client: TestClient, user: User, **params: Any) -> list[str]:
    r = client.get(BASE, params={"limit": 100, **params}, headers=user.headers)
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["data"]]


def _pair(client: TestClient, user: User) -> tuple[str, str]:
    return create_contact(client, user)["id"], create_contact(client, user)["id"]


class TestCreateReferral:
    def test_records_a_referral(self, client: TestClient) -> None:
        user = register(client)
        referrer, referred = _pair(client, user)
        r = client.post(
            BASE,
            json={
                "referrer_id": referrer,
                "referred_id": referred,
                "relationship": "former_employer",
                "notes": "Said to mention her name.",
                "referred_on": "2026-11-02",
            },
            headers=user.headers,
        )
        assert r.status_code == 201, r.text
        referral = r.json()
        assert set(referral) >= WIRE_NAMES
        assert referral["referrer_id"] == referrer and referral["referred_id"] == referred
        assert referral["relationship"] == "former_employer"
        assert referral["referred_on"] == "2026-11-02"
        assert r.headers["etag"] == '"1"'
        assert r.headers["location"] == f"{BASE}/{referral['id']}"
        assert client.get(r.headers["location"], headers=user.headers).json() == referral

    def test_a_pair_is_recorded_once(self, client: TestClient) -> None:
        user = register(client)
        referrer, referred = _pair(client, user)
        first = create_referral(client, user, referrer, referred)
        r = client.post(
            BASE,
            json={"referrer_id": referrer, "referred_id": referred, "relationship": "family"},
            headers=user.headers,
        )
        problem = assert_problem(r, 409, "duplicate_referral")
        assert problem["existing_id"] == first["id"]
        # The other direction is another lead, and a contact may have several referrers.
        create_referral(client, user, referred, referrer)
        third = create_contact(client, user)["id"]
        create_referral(client, user, third, referred, "colleague")
        assert len(_ids(client, user, referred_id=referred)) == 2

    def test_bad_input_is_a_422_and_writes_nothing(self, client: TestClient) -> None:
        user, other = register(client), register(client)
        referrer, referred = _pair(client, user)
        theirs = create_contact(client, other)["id"]
        ok = {"referrer_id": referrer, "referred_id": referred, "relationship": "friend"}

        r = client.post(BASE, json={**ok, "referred_id": referrer}, headers=user.headers)
        assert_problem(r, 422, "self_referral")
        for field in ("referrer_id", "referred_id"):
            for missing in (theirs, MISSING_ID):
                r = client.post(BASE, json={**ok, field: missing}, headers=user.headers)
                problem = assert_problem(r, 422, "invalid_reference")
                assert problem["errors"][0]["loc"] == ["body", field]
        for body in (
            {**ok, "referrer_id": "not-a-uuid"},
            {**ok, "referred_id": 12},
            {**ok, "relationship": "boss"},
            {**ok, "relationship": None},
            {k: v for k, v in ok.items() if k != "relationship"},
            {k: v for k, v in ok.items() if k != "referrer_id"},
            {**ok, "referred_on": "2026-11-02T10:00:00Z"},
            {**ok, "referred_on": "02/11/2026"},
            {**ok, "referred_on": 1700000000},
            {**ok, "notes": "x" * 20001},
            {**ok, "id": MISSING_ID},
            {**ok, "referer_id": referrer},
        ):
            assert_problem(client.post(BASE, json=body, headers=user.headers), 422)
        assert _ids(client, user) == []
        assert_problem(client.post(BASE, json=ok), 401)


class TestGetReferral:
    def test_missing_foreign_and_malformed_ids(self, client: TestClient) -> None:
        user, other = register(client), register(client)
        mine = create_referral(client, user, *_pair(client, user))
        theirs = create_referral(client, other, *_pair(client, other))
        r = client.get(f"{BASE}/{mine['id']}", headers=user.headers)
        assert r.status_code == 200 and r.json() == mine and r.headers["etag"] == '"1"'
        r = client.get(f"{BASE}/{theirs['id']}", headers=user.headers)
        assert_problem(r, 404, "referral_not_found")
        assert_problem(client.get(f"{BASE}/{MISSING_ID}", headers=user.headers), 404)
        assert_problem(client.get(f"{BASE}/nope", headers=user.headers), 422)


class TestListReferrals:
    def test_filters_and_isolation(self, client: TestClient) -> None:
        user, other = register(client), register(client)
        a, b = _pair(client, user)
        c = create_contact(client, user)["id"]
        ab = create_referral(client, user, a, b, "friend")
        cb = create_referral(client, user, c, b, "faculty")
        ac = create_referral(client, user, a, c, "faculty")
        theirs = create_referral(client, other, *_pair(client, other), "faculty")

        assert _ids(client, user) == [ac["id"], cb["id"], ab["id"]]
        assert _ids(client, other) == [theirs["id"]]
        assert _ids(client, user, referrer_id=a) == [ac["id"], ab["id"]]
        assert _ids(client, user, referred_id=b) == [cb["id"], ab["id"]]
        assert _ids(client, user, relationship="faculty") == [ac["id"], cb["id"]]
        assert _ids(client, user, referrer_id=a, relationship="friend") == [ab["id"]]
        assert _ids(client, user, referrer_id=theirs["referrer_id"]) == []

    def test_walks_pages_and_refuses_bad_parameters(self, client: TestClient) -> None:
        user = register(client)
        hub = create_contact(client, user)["id"]
        created = [
            create_referral(client, user, create_contact(client, user)["id"], hub)["id"]
            for _ in range(5)
        ]
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            body = client.get(BASE, params=params, headers=user.headers).json()
            seen += [r["id"] for r in body["data"]]
            if not body["has_more"]:
                break
            cursor = body["next_cursor"]
        assert seen == list(reversed(created))

        for params in (
            {"limit": 101},
            {"limit": 0},
            {"relationship": "boss"},
            {"referrer_id": "nope"},
            {"referred_id": "123"},
        ):
            assert_problem(client.get(BASE, params=params, headers=user.headers), 422)
        r = client.get(BASE, params={"cursor": "%%%"}, headers=user.headers)
        assert_problem(r, 422, "invalid_cursor")


class TestUpdateReferral:
    def test_changes_relationship_notes_and_date(self, client: TestClient) -> None:
        user = register(client)
        referral = create_referral(client, user, *_pair(client, user), notes="n")
        url = f"{BASE}/{referral['id']}"
        r = client.patch(
            url,
            json={"relationship": "colleague", "referred_on": "2026-10-01"},
            headers={**user.headers, "If-Match": '"1"'},
        )
        assert r.status_code == 200, r.text
        assert r.headers["etag"] == '"2"'
        body = r.json()
        assert body["relationship"] == "colleague" and body["referred_on"] == "2026-10-01"
        assert body["notes"] == "n"
        r = client.patch(url, json={"notes": None, "referred_on": None}, headers=user.headers)
        assert r.json()["notes"] is None and r.json()["referred_on"] is None
        assert r.headers["etag"] == '"3"'

    def test_refuses_bad_changes_stale_tags_and_foreign_rows(self, client: TestClient) -> None:
        user, other = register(client), register(client)
        referral = create_referral(client, user, *_pair(client, user))
        url = f"{BASE}/{referral['id']}"
        for body in (
            {"referrer_id": create_contact(client, user)["id"]},
            {"referred_id": referral["referrer_id"]},
            {"relationship": None},
            {"relationship": "boss"},
            {"referred_on": "yesterday"},
            {"id": MISSING_ID},
        ):
            assert_problem(client.patch(url, json=body, headers=user.headers), 422)
        r = client.patch(url, json={"notes": "x"}, headers={**user.headers, "If-Match": '"7"'})
        assert_problem(r, 412, "etag_mismatch")
        assert_problem(client.patch(url, json={"notes": "x"}, headers=other.headers), 404)
        r = client.get(url, headers=user.headers)
        assert r.json() == referral and r.headers["etag"] == '"1"'


class TestDeleteReferral:
    def test_deletes_an_unused_referral(self, client: TestClient) -> None:
        user, other = register(client), register(client)
        referral = create_referral(client, user, *_pair(client, user))
        url = f"{BASE}/{referral['id']}"
        assert_problem(client.delete(url, headers=other.headers), 404)
        assert_problem(client.delete(url, headers={**user.headers, "If-Match": '"2"'}), 412)
        assert_problem(client.delete(f"{BASE}/nope", headers=user.headers), 422)
        r = client.delete(url, headers={**user.headers, "If-Match": '"1"'})
        assert r.status_code == 204
        assert_problem(client.get(url, headers=user.headers), 404)
        # With the referral gone, its contacts are free to go too.
        for contact_id in (referral["referrer_id"], referral["referred_id"]):
            r = client.delete(f"/api/v1/contacts/{contact_id}", headers=user.headers)
            assert r.status_code == 204

    def test_a_referral_an_interview_came_from_stays(
        self, client: TestClient, settings: Settings
    ) -> None:
        user = register(client)
        referral = create_referral(client, user, *_pair(client, user))
        insert_interview(settings, user, referral["referred_id"], referral["id"])
        url = f"{BASE}/{referral['id']}"
        assert_problem(client.delete(url, headers=user.headers), 409, "referral_in_use")
        assert client.get(url, headers=user.headers).status_code == 200


class TestRacesOnPostgres:
    """Writes that lose a race to a concurrent transaction still answer the right problem."""

    @pytest.fixture(autouse=True)
    def _postgres_only(self, settings: Settings) -> None:
        if not settings.database_url.startswith("postgresql"):
            pytest.skip("row locks make the race observable on PostgreSQL")

    def test_a_concurrent_duplicate_is_a_409(self, client: TestClient, settings: Settings) -> None:
        user = register(client)
        referrer, referred = _pair(client, user)
        row = Referral(
            owner_id=uuid.UUID(user.id),
            referrer_id=uuid.UUID(referrer),
            referred_id=uuid.UUID(referred),
            relationship="friend",
        )
        body = {"referrer_id": referrer, "referred_id": referred, "relationship": "family"}
        r = race_with_uncommitted_insert(
            settings, row, lambda: client.post(BASE, json=body, headers=user.headers)
        )
        assert_problem(r, 409, "duplicate_referral")
        assert _ids(client, user) == [str(row.id)]

    def test_an_interview_tied_during_a_delete_keeps_the_referral(
        self, client: TestClient, settings: Settings
    ) -> None:
        user = register(client)
        referral = create_referral(client, user, *_pair(client, user))
        row = Interview(
            owner_id=uuid.UUID(user.id),
            contact_id=uuid.UUID(referral["referred_id"]),
            referral_id=uuid.UUID(referral["id"]),
        )
        url = f"{BASE}/{referral['id']}"
        r = race_with_uncommitted_insert(
            settings, row, lambda: client.delete(url, headers=user.headers)
        )
        assert_problem(r, 409, "referral_in_use")
        assert client.get(url, headers=user.headers).status_code == 200
