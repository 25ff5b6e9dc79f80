"""Contacts over HTTP: create, read, list with filters and pages, change, delete, upsert."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.contacts.schemas import Contact
from app.kit.config import Settings
from app.letters.schemas import Letter
from tests.factories import User, assert_problem, register
from tests.factories_contacts import (
    create_contact,
    create_referral,
    insert_interview,
    insert_letter,
    race_with_uncommitted_insert,
)

BASE = "/api/v1/contacts"
MISSING_ID = "01a21570-0000-7000-8000-000000000000"
WIRE_NAMES = {
    "id",
    "full_name",
    "email",
    "phone",
    "organization",
    "title",
    "career_field",
    "profile_url",
    "notes",
    "tags",
    "external_id",
    "source",
    "keep_in_touch_days",
    "last_contacted_at",
    "archived",
    "created_at",
    "updated_at",
}


def _ids(client: TestClient, user: User, **params: Any) -> list[str]:
    r = client.get(BASE, params={"limit": 100, **params}, headers=user.headers)
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["data"]]


def _count(client: TestClient, user: User) -> int:
    return len(_ids(client, user))


class TestCreateContact:
    def test_creates_with_every_field(self, client: TestClient) -> None:
        user = register(client)
        body = {
            "full_name": "  Ada Lovelace ",
            "email": "ada@example.com",
            "phone": "+44 20 7946 0000",
            "organization": "Analytical Engines Ltd",
            "title": "Analyst",
            "career_field": "web development",
            "profile_url": "https://example.com/ada",
            "notes": "Met at the meetup.",
            "tags": [" mentor", "alumni", "mentor ", "alumni"],
            "external_id": "ln-42",
            "source": "linkedin",
            "keep_in_touch_days": 90,
            "archived": False,
        }
        r = client.post(BASE, json=body, headers=user.headers)
        assert r.status_code == 201, r.text
        contact = r.json()
        assert set(contact) >= WIRE_NAMES
        assert contact["full_name"] == "Ada Lovelace"
        assert contact["tags"] == ["mentor", "alumni"]
        assert contact["profile_url"] == "https://example.com/ada"
        assert contact["last_contacted_at"] is None
        assert contact["created_at"].endswith("Z")
        assert r.headers["etag"] == '"1"'
        assert r.headers["location"] == f"{BASE}/{contact['id']}"
        again = client.get(r.headers["location"], headers=user.headers)
        assert again.json() == contact

    def test_defaults(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user, full_name="Bo")
        assert contact["tags"] == []
        assert contact["archived"] is False
        assert contact["keep_in_touch_days"] is None
        assert contact["external_id"] is None and contact["source"] is None

    def test_bad_input_is_a_422_and_writes_nothing(self, client: TestClient) -> None:
        user = register(client)
        bad_bodies: list[dict[str, Any]] = [
            {},
            {"full_name": ""},
            {"full_name": "   "},
            {"full_name": "x" * 201},
            {"full_name": None},
            {"full_name": 42},
            {"full_name": "A", "email": "not-an-email"},
            {"full_name": "A", "profile_url": "ftp://example.com/a"},
            {"full_name": "A", "profile_url": "javascript:alert(1)"},
            {"full_name": "A", "profile_url": "example.com"},
            {"full_name": "A", "tags": [f"t{i}" for i in range(51)]},
            {"full_name": "A", "tags": ["x" * 51]},
            {"full_name": "A", "tags": ["  "]},
            {"full_name": "A", "tags": "mentor"},
            {"full_name": "A", "keep_in_touch_days": 0},
            {"full_name": "A", "keep_in_touch_days": 3651},
            {"full_name": "A", "keep_in_touch_days": "7"},
            {"full_name": "A", "keep_in_touch_days": True},
            {"full_name": "A", "archived": "yes"},
            {"full_name": "A", "external_id": "only-id"},
            {"full_name": "A", "source": "only-source"},
            {"full_name": "A", "external_id": "a\nb", "source": "crm"},
            {"full_name": "A", "external_id": "ok", "source": "c\x00rm"},
            {"full_name": "A", "external_id": "x" * 256, "source": "crm"},
            {"full_name": "A", "external_id": "ok", "source": "s" * 101},
            {"full_name": "A", "nickname": "typo"},
            {"full_name": "A", "id": MISSING_ID},
            {"full_name": "A", "last_contacted_at": "2026-01-01T00:00:00Z"},
            {"full_name": "A", "created_at": "2026-01-01T00:00:00Z"},
            {"full_name": "A", "version": 3},
        ]
        for body in bad_bodies:
            r = client.post(BASE, json=body, headers=user.headers)
            problem = assert_problem(r, 422)
            assert problem["errors"], body
        r = client.post(
            BASE,
            content=b"{not json",
            headers={**user.headers, "Content-Type": "application/json"},
        )
        assert_problem(r, 422, "malformed_json")
        assert _count(client, user) == 0

    def test_external_id_is_unique_per_user_and_source(self, client: TestClient) -> None:
        user, other = register(client), register(client)
        first = create_contact(client, user, external_id="42", source="crm")
        r = client.post(
            BASE,
            json={"full_name": "Dup", "external_id": "42", "source": "crm"},
            headers=user.headers,
        )
        problem = assert_problem(r, 409, "external_id_taken")
        assert problem["existing_id"] == first["id"]
        # The same id from another source, or for another user, is someone else.
        create_contact(client, user, external_id="42", source="hr")
        create_contact(client, other, external_id="42", source="crm")
        assert _count(client, user) == 2

    def test_requires_a_token(self, client: TestClient) -> None:
        r = client.post(BASE, json={"full_name": "A"})
        assert_problem(r, 401)
        assert r.headers["www-authenticate"] == "Bearer"
        assert_problem(client.get(BASE), 401)


class TestGetContact:
    def test_get_returns_the_contact_and_its_etag(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user)
        r = client.get(f"{BASE}/{contact['id']}", headers=user.headers)
        assert r.status_code == 200
        assert r.json() == contact
        assert r.headers["etag"] == '"1"'

    def test_missing_foreign_and_malformed_ids(self, client: TestClient) -> None:
        user, other = register(client), register(client)
        theirs = create_contact(client, other)
        assert_problem(client.get(f"{BASE}/{MISSING_ID}", headers=user.headers), 404)
        r = client.get(f"{BASE}/{theirs['id']}", headers=user.headers)
        assert_problem(r, 404, "contact_not_found")
        for bad in ("not-a-uuid", "123", "01a21570-0000-7000-8000-00000000000z"):
            assert_problem(client.get(f"{BASE}/{bad}", headers=user.headers), 422)


class TestListContacts:
    def test_filters(self, client: TestClient) -> None:
        user = register(client)
        ada = create_contact(
            client,
            user,
            full_name="Ada Lovelace",
            email="ada@engines.example",
            organization="Analytical Engines",
            phone="555-0100",
            career_field="Web Development",
            tags=["mentor", "alumni"],
        )
        bob = create_contact(
            client,
            user,
            full_name="Bob 100% Sure_Thing",
            organization="Acme",
            career_field="accounting",
            tags=["mentors"],
            external_id="b-1",
            source="crm",
        )
        cy = create_contact(client, user, full_name="Cy", archived=True, tags=["alumni"])

        assert _ids(client, user, q="LOVELACE") == [ada["id"]]
        assert _ids(client, user, q="engines.EXAMPLE") == [ada["id"]]
        assert _ids(client, user, q="acme") == [bob["id"]]
        assert _ids(client, user, q="555-01") == [ada["id"]]
        # LIKE wildcards in q are literal characters.
        assert _ids(client, user, q="100%") == [bob["id"]]
        assert _ids(client, user, q="a_l") == []  # would match "Ada Lovelace" as a wildcard
        assert _ids(client, user, q="%") == [bob["id"]]
        assert _ids(client, user, q="nobody") == []

        # Exact tags: "mentor" does not match "mentors".
        assert _ids(client, user, tag="mentor") == [ada["id"]]
        assert _ids(client, user, tag="alumni") == [cy["id"], ada["id"]]
        assert _ids(client, user, tag="ment") == []

        assert _ids(client, user, career_field="web development") == [ada["id"]]
        assert _ids(client, user, career_field="ACCOUNTING") == [bob["id"]]
        assert _ids(client, user, archived="true") == [cy["id"]]
        assert _ids(client, user, archived="false") == [bob["id"], ada["id"]]
        assert _ids(client, user, source="crm") == [bob["id"]]
        assert _ids(client, user, source="crm", external_id="b-1") == [bob["id"]]
        assert _ids(client, user, external_id="b-2") == []
        assert _ids(client, user, tag="alumni", archived="false") == [ada["id"]]

    def test_walks_pages_without_duplicates(self, client: TestClient) -> None:
        user = register(client)
        created = [create_contact(client, user)["id"] for _ in range(7)]
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 3}
            if cursor:
                params["cursor"] = cursor
            body = client.get(BASE, params=params, headers=user.headers).json()
            pages += 1
            seen += [c["id"] for c in body["data"]]
            if not body["has_more"]:
                assert body["next_cursor"] is None
                break
            assert len(body["data"]) == 3
            cursor = body["next_cursor"]
        assert pages == 3
        assert seen == list(reversed(created))  # newest first, each exactly once
        # A contact created while paging does not disturb a cursor already handed out.
        first = client.get(BASE, params={"limit": 3}, headers=user.headers).json()
        create_contact(client, user)
        second = client.get(
            BASE, params={"limit": 3, "cursor": first["next_cursor"]}, headers=user.headers
        ).json()
        assert [c["id"] for c in second["data"]] == seen[3:6]

    def test_bad_parameters_are_a_422(self, client: TestClient) -> None:
        user = register(client)
        for params in (
            {"limit": 0},
            {"limit": 101},
            {"limit": "ten"},
            {"archived": "maybe"},
            {"q": ""},
            {"q": "x" * 201},
            {"tag": ""},
            {"tag": "x" * 51},
            {"career_field": "x" * 101},
            {"source": "a\x01b"},
            {"external_id": "x" * 256},
        ):
            assert_problem(client.get(BASE, params=params, headers=user.headers), 422)
        # The last: sixteen good bytes, spelled with bits the document's pattern rules out.
        for cursor in ("!!!", "not-a-cursor", "AAAA", "AAAAAAAAAAAAAAAAAAAAAB"):
            r = client.get(BASE, params={"cursor": cursor}, headers=user.headers)
            assert_problem(r, 422, "invalid_cursor")
        assert client.get(BASE, params={"limit": 100}, headers=user.headers).status_code == 200

    def test_never_shows_another_users_contacts(self, client: TestClient) -> None:
        user, other = register(client), register(client)
        mine = create_contact(client, user, tags=["shared"], external_id="1", source="crm")
        theirs = create_contact(client, other, tags=["shared"], external_id="1", source="crm")
        assert _ids(client, user) == [mine["id"]]
        assert _ids(client, other) == [theirs["id"]]
        assert _ids(client, user, tag="shared") == [mine["id"]]
        assert _ids(client, user, source="crm", external_id="1") == [mine["id"]]


class TestUpdateContact:
    def test_changes_only_the_fields_sent(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(
            client, user, full_name="Ada", email="ada@example.com", tags=["x"], notes="hi"
        )
        url = f"{BASE}/{contact['id']}"
        r = client.patch(
            url,
            json={"title": "CTO", "email": None, "tags": ["b", " a", "b"], "archived": True},
            headers=user.headers,
        )
        assert r.status_code == 200, r.text
        updated = r.json()
        assert r.headers["etag"] == '"2"'
        assert updated["title"] == "CTO"
        assert updated["email"] is None
        assert updated["tags"] == ["b", "a"]
        assert updated["archived"] is True
        assert updated["full_name"] == "Ada" and updated["notes"] == "hi"
        assert updated["created_at"] == contact["created_at"]
        assert updated["updated_at"] > contact["updated_at"]
        assert client.get(url, headers=user.headers).json() == updated
        # An empty change is no write at all.
        r = client.patch(url, json={}, headers=user.headers)
        assert r.status_code == 200 and r.headers["etag"] == '"2"'

    def test_bad_changes_are_a_422_and_change_nothing(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user, full_name="Ada")
        url = f"{BASE}/{contact['id']}"
        for body in (
            {"full_name": None},
            {"full_name": ""},
            {"tags": None},
            {"archived": None},
            {"keep_in_touch_days": 0},
            {"email": "nope"},
            {"profile_url": "mailto:a@example.com"},
            {"last_contacted_at": "2026-01-01T00:00:00Z"},
            {"id": MISSING_ID},
            {"updated_at": "2026-01-01T00:00:00Z"},
            {"created_at": "2026-01-01T00:00:00Z"},
            {"nickname": "typo"},
            {"external_id": "only-half"},
            {"source": "only-half"},
        ):
            assert_problem(client.patch(url, json=body, headers=user.headers), 422)
        r = client.get(url, headers=user.headers)
        assert r.json() == contact and r.headers["etag"] == '"1"'

    def test_external_identity_changes(self, client: TestClient) -> None:
        user = register(client)
        create_contact(client, user, external_id="7", source="crm")
        other = create_contact(client, user, full_name="Other")
        url = f"{BASE}/{other['id']}"
        r = client.patch(url, json={"external_id": "7", "source": "crm"}, headers=user.headers)
        assert_problem(r, 409, "external_id_taken")
        r = client.patch(url, json={"external_id": "8", "source": "crm"}, headers=user.headers)
        assert r.status_code == 200 and r.json()["external_id"] == "8"
        # With the source already set, the id alone may change; clearing takes both.
        r = client.patch(url, json={"external_id": "9"}, headers=user.headers)
        assert r.json()["external_id"] == "9"
        assert_problem(client.patch(url, json={"source": None}, headers=user.headers), 422)
        r = client.patch(url, json={"source": None, "external_id": None}, headers=user.headers)
        assert r.json()["source"] is None and r.json()["external_id"] is None

    def test_if_match(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user, full_name="Ada")
        url = f"{BASE}/{contact['id']}"
        r = client.patch(url, json={"notes": "one"}, headers={**user.headers, "If-Match": '"1"'})
        assert r.status_code == 200 and r.headers["etag"] == '"2"'
        r = client.patch(url, json={"notes": "two"}, headers={**user.headers, "If-Match": '"1"'})
        assert_problem(r, 412, "etag_mismatch")
        assert client.get(url, headers=user.headers).json()["notes"] == "one"
        r = client.patch(url, json={"notes": "three"}, headers={**user.headers, "If-Match": "*"})
        assert r.status_code == 200 and r.headers["etag"] == '"3"'

    def test_another_users_contact_is_not_found(self, client: TestClient) -> None:
        user, other = register(client), register(client)
        theirs = create_contact(client, other, full_name="Theirs")
        r = client.patch(f"{BASE}/{theirs['id']}", json={"notes": "x"}, headers=user.headers)
        assert_problem(r, 404, "contact_not_found")
        assert_problem(client.patch(f"{BASE}/nope", json={"notes": "x"}, headers=user.headers), 422)
        assert client.get(f"{BASE}/{theirs['id']}", headers=other.headers).json() == theirs


class TestDeleteContact:
    def test_deletes_an_unused_contact(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user)
        url = f"{BASE}/{contact['id']}"
        assert_problem(client.delete(url, headers={**user.headers, "If-Match": '"9"'}), 412)
        r = client.delete(url, headers={**user.headers, "If-Match": '"1"'})
        assert r.status_code == 204 and r.content == b""
        assert_problem(client.get(url, headers=user.headers), 404)
        assert_problem(client.delete(url, headers=user.headers), 404)

    def test_another_users_contact_is_not_found(self, client: TestClient) -> None:
        user, other = register(client), register(client)
        theirs = create_contact(client, other)
        assert_problem(client.delete(f"{BASE}/{theirs['id']}", headers=user.headers), 404)
        assert_problem(client.delete(f"{BASE}/123", headers=user.headers), 422)
        assert client.get(f"{BASE}/{theirs['id']}", headers=other.headers).status_code == 200

    def test_a_contact_in_use_is_archived_not_deleted(
        self, client: TestClient, settings: Settings
    ) -> None:
        user = register(client)
        referrer, referred = create_contact(client, user), create_contact(client, user)
        interviewee, recipient = create_contact(client, user), create_contact(client, user)
        create_referral(client, user, referrer["id"], referred["id"])
        insert_interview(settings, user, interviewee["id"])
        insert_letter(settings, user, recipient["id"])
        for contact, kind in (
            (referrer, "referral"),
            (referred, "referral"),
            (interviewee, "interview"),
            (recipient, "letter"),
        ):
            url = f"{BASE}/{contact['id']}"
            problem = assert_problem(
                client.delete(url, headers=user.headers), 409, "contact_in_use"
            )
            assert problem["referenced_by"] == [kind]
            assert '"archived": true' in problem["detail"]
            assert client.get(url, headers=user.headers).status_code == 200
            r = client.patch(url, json={"archived": True}, headers=user.headers)
            assert r.status_code == 200 and r.json()["archived"] is True
        assert _count(client, user) == 4


class TestUpsertContactByExternalId:
    def test_creates_then_updates(self, client: TestClient) -> None:
        user = register(client)
        url = f"{BASE}/by-external-id/crm/abc-1"
        r = client.put(url, json={"full_name": "Ada", "tags": ["x"]}, headers=user.headers)
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["source"] == "crm" and created["external_id"] == "abc-1"
        assert r.headers["location"] == f"{BASE}/{created['id']}"
        assert r.headers["etag"] == '"1"'
        # The user's own additions survive a sync that does not mention them.
        client.patch(f"{BASE}/{created['id']}", json={"notes": "mine"}, headers=user.headers)
        r = client.put(
            url,
            json={"full_name": "Ada L.", "source": "crm", "external_id": "abc-1"},
            headers=user.headers,
        )
        assert r.status_code == 200, r.text
        updated = r.json()
        assert "location" not in r.headers
        assert r.headers["etag"] == '"3"'
        assert updated["id"] == created["id"]
        assert updated["full_name"] == "Ada L."
        assert updated["notes"] == "mine" and updated["tags"] == ["x"]
        assert _ids(client, user, source="crm", external_id="abc-1") == [created["id"]]
        assert _count(client, user) == 1

    def test_one_contact_per_user_and_external_id(self, client: TestClient) -> None:
        user, other = register(client), register(client)
        url = f"{BASE}/by-external-id/crm/42"
        mine = client.put(url, json={"full_name": "Mine"}, headers=user.headers).json()
        r = client.put(url, json={"full_name": "Theirs"}, headers=other.headers)
        assert r.status_code == 201 and r.json()["id"] != mine["id"]
        assert client.get(f"{BASE}/{mine['id']}", headers=user.headers).json()["full_name"] == (
            "Mine"
        )
        # An id with a slash in it is still one id.
        r = client.put(
            f"{BASE}/by-external-id/crm/a%2Fb", json={"full_name": "S"}, headers=user.headers
        )
        assert r.status_code == 201 and r.json()["external_id"] == "a/b"

    def test_bad_input(self, client: TestClient) -> None:
        user = register(client)
        url = f"{BASE}/by-external-id/crm/42"
        for body in (
            {},
            {"full_name": "A", "source": "other"},
            {"full_name": "A", "external_id": "43"},
            {"full_name": "A", "bogus": 1},
            {"full_name": "A", "last_contacted_at": "2026-01-01T00:00:00Z"},
        ):
            assert_problem(client.put(url, json=body, headers=user.headers), 422)
        for path in (
            "crm/a%0Ab",
            "crm/a%00",
            "crm/%C2%85",
            "c%09rm/42",
            f"crm/{'x' * 256}",
            f"{'s' * 101}/42",
            "crm/",
        ):
            r = client.put(
                f"{BASE}/by-external-id/{path}", json={"full_name": "A"}, headers=user.headers
            )
            problem = assert_problem(r, 422, "validation_error")
            assert problem["errors"][0]["loc"][0] == "path", path
        assert _count(client, user) == 0

    def test_if_match(self, client: TestClient) -> None:
        user = register(client)
        url = f"{BASE}/by-external-id/crm/42"
        r = client.put(url, json={"full_name": "A"}, headers={**user.headers, "If-Match": '"1"'})
        assert_problem(r, 412, "etag_mismatch")
        assert _count(client, user) == 0
        client.put(url, json={"full_name": "A"}, headers=user.headers)
        r = client.put(url, json={"full_name": "B"}, headers={**user.headers, "If-Match": '"5"'})
        assert_problem(r, 412, "etag_mismatch")
        r = client.put(url, json={"full_name": "B"}, headers={**user.headers, "If-Match": '"1"'})
        assert r.status_code == 200 and r.headers["etag"] == '"2"'


class TestRacesOnPostgres:
    """Writes that lose a race to a concurrent transaction still answer the right problem."""

    @pytest.fixture(autouse=True)
    def _postgres_only(self, settings: Settings) -> None:
        if not settings.database_url.startswith("postgresql"):
            pytest.skip("row locks make the race observable on PostgreSQL")

    def test_a_concurrent_create_takes_the_external_id(
        self, client: TestClient, settings: Settings
    ) -> None:
        user = register(client)
        row = Contact(owner_id=uuid.UUID(user.id), full_name="First", source="crm", external_id="1")
        body = {"full_name": "Second", "source": "crm", "external_id": "1"}
        r = race_with_uncommitted_insert(
            settings, row, lambda: client.post(BASE, json=body, headers=user.headers)
        )
        assert_problem(r, 409, "external_id_taken")
        assert _ids(client, user) == [str(row.id)]

    def test_an_upsert_that_loses_the_create_race_updates(
        self, client: TestClient, settings: Settings
    ) -> None:
        user = register(client)
        row = Contact(owner_id=uuid.UUID(user.id), full_name="First", source="crm", external_id="2")
        r = race_with_uncommitted_insert(
            settings,
            row,
            lambda: client.put(
                f"{BASE}/by-external-id/crm/2", json={"full_name": "Second"}, headers=user.headers
            ),
        )
        assert r.status_code == 200, r.text
        assert r.json()["id"] == str(row.id) and r.json()["full_name"] == "Second"
        assert _count(client, user) == 1

    def test_a_reference_added_during_a_delete_keeps_the_contact(
        self, client: TestClient, settings: Settings
    ) -> None:
        user = register(client)
        contact = create_contact(client, user)
        row = Letter(
            owner_id=uuid.UUID(user.id), kind="keep_in_touch", recipient_id=uuid.UUID(contact["id"])
        )
        url = f"{BASE}/{contact['id']}"
        r = race_with_uncommitted_insert(
            settings, row, lambda: client.delete(url, headers=user.headers)
        )
        problem = assert_problem(r, 409, "contact_in_use")
        assert problem["referenced_by"] == ["letter"]
        assert client.get(url, headers=user.headers).status_code == 200
