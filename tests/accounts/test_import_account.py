"""POST /api/v1/import: a full export loaded into an empty account, and the round trip.

Every test that takes ``client`` runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import User, assert_problem, register
from tests.factories_contacts import create_contact
from tests.factories_exports import rich_account

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def export(client: TestClient, user: User) -> dict[str, Any]:
    r = client.get("/api/v1/export", headers=user.headers)
    assert r.status_code == 200, r.text
    document: dict[str, Any] = r.json()
    return document


def load(client: TestClient, user: User, document: Any) -> Any:
    return client.post("/api/v1/import", json=document, headers=user.headers)


def normalised(document: dict[str, Any]) -> dict[str, Any]:
    """The document without when it was made and whose it was, every id replaced by its
    order of first appearance: two exports of the same data compare equal."""
    names: dict[str, str] = {}

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str) and UUID.fullmatch(value):
            return names.setdefault(value, f"id-{len(names)}")
        return value

    return walk({k: v for k, v in document.items() if k not in ("exported_at", "user")})  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def sample() -> dict[str, Any]:
    """A small valid document, written by hand, to break in the tests below."""
    now = "2026-11-01T10:00:00Z"
    c1, c2, r1, i1, l1 = (str(uuid.uuid4()) for _ in range(5))
    item = {"done": True, "done_at": now, "note": None}
    return {
        "format": "infoview-export",
        "version": 1,
        "exported_at": now,
        "user": {"email": "someone@example.com", "full_name": None},
        "contacts": [
            {"id": c1, "full_name": "Bob Smith", "created_at": now, "updated_at": now},
            {
                "id": c2,
                "full_name": "Jane Doe",
                "email": "jane@example.com",
                "created_at": now,
                "updated_at": now,
            },
        ],
        "referrals": [
            {
                "id": r1,
                "referrer_id": c1,
                "referred_id": c2,
                "relationship": "friend",
                "created_at": now,
                "updated_at": now,
            }
        ],
        "interviews": [
            {
                "id": i1,
                "contact_id": c2,
                "referral_id": r1,
                "mode": "phone",
                "state": "held",
                "scheduled_at": "2026-11-01T09:00:00Z",
                "requested_at": "2026-10-20T09:00:00Z",
                "prepared_at": "2026-10-25T09:00:00Z",
                "held_at": "2026-11-01T09:30:00Z",
                "created_at": now,
                "updated_at": now,
                "checklist": {
                    "research": item,
                    "website": item,
                    "self_assessment": item,
                    "opening_statement": {**item, "text": "I study accounting."},
                    "updated_at": now,
                },
                "events": [
                    {
                        "from_state": "request",
                        "to_state": "prepared",
                        "at": "2026-10-25T09:00:00Z",
                        "actor": "someone",
                    },
                    {
                        "from_state": "prepared",
                        "to_state": "held",
                        "at": "2026-11-01T09:30:00Z",
                        "actor": "someone",
                    },
                ],
            }
        ],
        "letters": [
            {
                "id": l1,
                "kind": "request",
                "recipient_id": c2,
                "interview_id": i1,
                "body": "Could we talk?",
                "status": "sent",
                "sent_at": "2026-10-21T09:00:00Z",
                "created_at": now,
                "updated_at": now,
            }
        ],
    }


class TestRoundTrip:
    def test_export_import_export_gives_the_same_document_and_a_working_account(
        self, client: TestClient
    ) -> None:
        alice = register(client)
        rich_account(client, alice)
        first = export(client, alice)
        bob = register(client)
        r = load(client, bob, first)
        assert r.status_code == 200, r.text
        assert r.json() == {
            "contacts": 5,
            "referrals": 1,
            "interviews": 3,
            "events": 5,
            "letters": 5,
            "templates": 1,
            "interactions": 0,
            "documents": 0,
        }
        second = export(client, bob)
        assert second["user"]["email"] == bob.email
        assert normalised(second) == normalised(first)
        # New ids throughout, and nothing of Alice's is shared with Bob.
        assert not {c["id"] for c in first["contacts"]} & {c["id"] for c in second["contacts"]}
        actors = {e["actor"] for i in second["interviews"] for e in i["events"]}
        assert actors == {bob.id}
        again = export(client, alice)  # the source account is left as it was
        assert again == {**first, "exported_at": again["exported_at"]}
        built = {"jane": next(c for c in first["contacts"] if c["full_name"] == "Jane Doe")}
        built["interview"] = next(i for i in first["interviews"] if i["state"] == "reported-back")

        # The imported account works like any other.
        h = bob.headers
        # Lists keep their order (new ids are issued in the order of the old ones).
        assert names(client, bob) == names(client, alice)
        interviews = client.get(
            "/api/v1/interviews", params={"state": "reported-back"}, headers=h
        ).json()["data"]
        [walked] = interviews
        assert walked["held_at"] == built["interview"]["held_at"]
        r = client.get(f"/api/v1/interviews/{walked['id']}", headers=h)
        assert r.headers["etag"] == '"1"'
        assert client.get(f"/api/v1/interviews/{walked['id']}/transitions", headers=h).json() == []
        events = client.get(f"/api/v1/interviews/{walked['id']}/events", headers=h).json()["data"]
        assert [e["to_state"] for e in events] == ["prepared", "held", "thanked", "reported-back"]
        checklist = client.get(f"/api/v1/interviews/{walked['id']}/checklist", headers=h).json()
        assert checklist["complete"] is True
        jane = next(
            c
            for c in client.get("/api/v1/contacts", headers=h).json()["data"]
            if c["full_name"] == "Jane Doe"
        )
        original = client.get(
            f"/api/v1/contacts/{built['jane']['id']}", headers=alice.headers
        ).json()
        assert jane["last_contacted_at"] == original["last_contacted_at"] is not None
        drafts = client.get(
            "/api/v1/letters", params={"status": "draft", "kind": "keep_in_touch"}, headers=h
        ).json()["data"]
        r = client.post(f"/api/v1/letters/{drafts[0]['id']}/send", headers=h)
        assert r.status_code == 200, r.text
        r = client.get("/api/v1/templates/keep_in_touch", headers=h)
        assert r.json()["custom"] is True

    def test_a_hand_written_document_loads(
        self, client: TestClient, sample: dict[str, Any]
    ) -> None:
        user = register(client)
        r = load(client, user, sample)
        assert r.status_code == 200, r.text
        doc = export(client, user)
        [interview] = doc["interviews"]
        assert interview["state"] == "held"
        assert interview["checklist"]["attire"] == {"done": False, "done_at": None, "note": None}
        assert [e["actor"] for e in interview["events"]] == ["someone", "someone"]
        jane = next(c for c in doc["contacts"] if c["full_name"] == "Jane Doe")
        assert jane["last_contacted_at"] == "2026-11-01T09:30:00Z"  # held, after the letter


def names(client: TestClient, user: User) -> list[str]:
    r = client.get("/api/v1/contacts", headers=user.headers)
    return [c["full_name"] for c in r.json()["data"]]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change to the document: ``path`` like ``letters.0.recipient_id``."""

    def change(document: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        target: Any = document
        for part in parents:
            target = target[part]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value

    return change


_DELETE = object()


def _duplicate_contact(document: dict[str, Any]) -> None:
    document["contacts"].append(dict(document["contacts"][0]))


RANDOM = str(uuid.uuid4())
# Each group is broken in one document (its problems do not hide one another): a 422 must list
# every problem of the group at its JSON path.
GROUPS: list[list[tuple[Callable[[dict[str, Any]], None], list[Any], str]]] = [
    [  # the shape of the document
        (_set("format", "something-else"), ["body", "format"], "literal_error"),
        (_set("version", 2), ["body", "version"], "literal_error"),
        (_set("contacts.1.email", "not-an-email"), ["body", "contacts", 1, "email"], "value_error"),
        (_set("contacts.0.surprise", 1), ["body", "contacts", 0, "surprise"], "extra_forbidden"),
        (
            _set("contacts.0.created_at", "2026-11-01T10:00:00"),
            ["body", "contacts", 0, "created_at"],
            "timezone_aware",
        ),
        (
            _set("referrals.0.referred_id", None),
            ["body", "referrals", 0, "referred_id"],
            "uuid_type",
        ),
        (_set("interviews.0.state", "done"), ["body", "interviews", 0, "state"], "enum"),
        (
            _set("interviews.0.checklist", _DELETE),
            ["body", "interviews", 0, "checklist"],
            "missing",
        ),
        (_set("letters.0.sent_at", None), ["body", "letters", 0], "value_error"),
    ],
    [  # a state without the time it was entered
        (_set("interviews.0.held_at", None), ["body", "interviews", 0], "value_error"),
    ],
    [  # references between records
        (_duplicate_contact, ["body", "contacts", 2, "id"], "duplicate_id"),
        (
            _set("referrals.0.referrer_id", "{c2}"),
            ["body", "referrals", 0, "referred_id"],
            "self_referral",
        ),
        (
            _set("interviews.0.contact_id", "{c1}"),
            ["body", "interviews", 0, "referral_id"],
            "referral_mismatch",
        ),
        (
            _set("letters.0.recipient_id", RANDOM),
            ["body", "letters", 0, "recipient_id"],
            "invalid_reference",
        ),
        (
            _set("letters.0.interview_id", RANDOM),
            ["body", "letters", 0, "interview_id"],
            "invalid_reference",
        ),
    ],
    [
        (
            _set("interviews.0.contact_id", RANDOM),
            ["body", "interviews", 0, "contact_id"],
            "invalid_reference",
        ),
        (
            _set("interviews.0.referral_id", RANDOM),
            ["body", "interviews", 0, "referral_id"],
            "invalid_reference",
        ),
    ],
]


class TestInvalidDocuments:
    def test_every_problem_is_a_422_at_its_json_path_and_nothing_is_written(
        self, client: TestClient, sample: dict[str, Any]
    ) -> None:
        user = register(client)
        for group in GROUPS:
            document = copy.deepcopy(sample)
            for change, _, _ in group:
                change(document)
            text = json.dumps(document)
            for name, index in (("{c1}", 0), ("{c2}", 1)):
                text = text.replace(f'"{name}"', json.dumps(sample["contacts"][index]["id"]))
            body = assert_problem(load(client, user, json.loads(text)), 422, "validation_error")
            assert body.get("error_count", len(group)) == len(body["errors"]) == len(group)
            found = [(e["loc"], e["type"]) for e in body["errors"]]
            assert sorted(map(str, found)) == sorted(str((loc, kind)) for _, loc, kind in group)
        assert export(client, user)["contacts"] == []

    def test_a_template_that_would_be_refused_on_save_is_refused_here(
        self, client: TestClient, sample: dict[str, Any]
    ) -> None:
        now = "2026-11-01T10:00:00Z"
        bad = {
            "id": str(uuid.uuid4()),
            "kind": "thank_you",
            "source": "Hi {{ nobody }}",
            "created_at": now,
            "updated_at": now,
        }
        good = {
            **bad,
            "id": str(uuid.uuid4()),
            "kind": "update",
            "source": "Hello {{ contact.full_name }}",
        }
        document = {
            **copy.deepcopy(sample),
            "templates": [good, bad, {**good, "id": str(uuid.uuid4())}],
        }
        body = assert_problem(load(client, register(client), document), 422, "validation_error")
        locs = [e["loc"] for e in body["errors"]]
        assert ["body", "templates", 1, "source"] in locs
        assert ["body", "templates", 2, "kind"] in locs  # a second template of the same kind

    def test_json_that_is_not_a_document_is_a_422(self, client: TestClient) -> None:
        user = register(client)
        assert_problem(load(client, user, []), 422)
        r = client.post(
            "/api/v1/import",
            content=b"{not json",
            headers={**user.headers, "Content-Type": "application/json"},
        )
        assert_problem(r, 422, "malformed_json")


class TestTargetAccount:
    def test_an_account_with_anything_in_it_is_refused(
        self, client: TestClient, sample: dict[str, Any]
    ) -> None:
        user = register(client)
        create_contact(client, user, full_name="Already here")
        body = assert_problem(load(client, user, sample), 409, "account_not_empty")
        assert "empty account" in body["detail"]
        assert [c["full_name"] for c in export(client, user)["contacts"]] == ["Already here"]
        # Nor can the same document be loaded twice.
        again = register(client)
        assert load(client, again, sample).status_code == 200
        assert_problem(load(client, again, sample), 409, "account_not_empty")
        assert len(export(client, again)["contacts"]) == 2

    def test_a_body_over_the_limit_is_a_413(
        self, client: TestClient, sample: dict[str, Any]
    ) -> None:
        document = copy.deepcopy(sample)
        document["contacts"][0]["notes"] = "x" * 20000
        document["contacts"] *= 60
        r = load(client, register(client), document)
        assert_problem(r, 413, "payload_too_large")

    def test_a_token_needs_the_export_scope_and_a_caller_is_needed(
        self, client: TestClient, sample: dict[str, Any]
    ) -> None:
        user = register(client)
        r = client.post(
            "/api/v1/tokens", json={"name": "x", "scopes": ["contacts:write"]}, headers=user.headers
        )
        token = {"Authorization": f"Bearer {r.json()['token']}"}
        assert_problem(
            client.post("/api/v1/import", json=sample, headers=token), 403, "insufficient_scope"
        )
        assert_problem(client.post("/api/v1/import", json=sample), 401)
