"""Take-aways: GET /api/v1/interviews/{id}/export (Markdown, JSON) and GET /api/v1/export.

Every test that takes ``client`` runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.accounts import export as account
from tests.factories import User, assert_problem, register
from tests.factories_contacts import create_contact
from tests.factories_exports import QUESTIONS, TEMPLATE, rich_account
from tests.factories_interviews import create_interview


@pytest.fixture
def user(client: TestClient) -> User:
    return register(client)


def utc_words(timestamp: str) -> str:
    """An RFC 3339 UTC timestamp as a user in UTC reads it: "Tuesday 9 December 2026, 2:30
    p.m. UTC" (the app's own formatting is not used to check itself)."""
    at = datetime.fromisoformat(timestamp)
    half = "a.m." if at.hour < 12 else "p.m."
    return f"{at:%A} {at.day} {at:%B %Y}, {at.hour % 12 or 12}:{at:%M} {half} UTC"


def export_interview(client: TestClient, user: User, interview_id: str, **params: str) -> Any:
    return client.get(
        f"/api/v1/interviews/{interview_id}/export", params=params, headers=user.headers
    )


class TestInterviewExport:
    def test_markdown_by_default_and_json_with_everything_the_user_takes_away(
        self, client: TestClient, user: User
    ) -> None:
        built = rich_account(client, user)
        interview = built["interview"]
        r = export_interview(client, user, interview["id"])
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "text/markdown; charset=utf-8"
        assert r.headers["cache-control"] == "no-store"
        day = interview["held_at"][:10]
        assert r.headers["content-disposition"] == (
            f'attachment; filename="interview-{day}-jane-doe.md"'
        )
        text = r.text
        assert text.startswith("# Informational interview with Jane Doe\n")
        for line in (
            "- **Interviewee:** Jane Doe (Audit Manager, Acme Audit)",
            "- **Email:** jane@example.com",
            "- **Referred by:** Bob Smith, colleague",
            "- **Career field:** accounting",
            "- **Mode:** In person",
            "- **Location:** Acme Audit, 5th floor",
            "- **Duration:** 30 minutes",
            "- **State:** reported back",
            "### 1. What does a typical day look like?",
            "Client calls, then audits.",
            "### 3. Which skills matter most?",
            "_No answer._",
            "## Advice",
            "Take the CPA exam early.",
            "## Next steps",
            "Read the AICPA newsletter; call Jane's colleague Sam.",
            "Decided to pursue this career.",
        ):
            assert line in text.splitlines(), line
        for label, field in (
            ("Requested", "requested_at"),
            ("Scheduled", "scheduled_at"),
            ("Prepared", "prepared_at"),
            ("Held", "held_at"),
            ("Thanked", "thanked_at"),
            ("Reported back", "reported_back_at"),
        ):
            assert f"- **{label}:** {utc_words(interview[field])}" in text, label
        assert "Cancelled" not in text

        # The same take-aways as data.
        r = export_interview(client, user, interview["id"], format="json")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        day = interview["held_at"][:10]
        assert r.headers["content-disposition"] == (
            f'attachment; filename="interview-{day}-jane-doe.json"'
        )
        doc = r.json()
        assert (doc["format"], doc["version"]) == ("infoview-interview", 1)
        assert doc["interview_id"] == interview["id"]
        assert doc["questions"] == QUESTIONS
        assert doc["advice"] == "Take the CPA exam early."
        assert doc["next_steps"] == interview["next_steps"]
        assert (doc["state"], doc["mode"], doc["decision"]) == (
            "reported-back",
            "in_person",
            "pursue",
        )
        assert doc["contact"]["id"] == built["jane"]["id"]
        assert doc["contact"]["full_name"] == "Jane Doe"
        assert doc["contact"]["email"] == "jane@example.com"
        assert doc["referral"]["referrer"]["full_name"] == "Bob Smith"
        assert doc["referral"]["relationship"] == "colleague"
        assert doc["referral"]["referred_on"] == "2026-10-01"
        for field in ("requested_at", "scheduled_at", "prepared_at", "held_at", "thanked_at"):
            assert doc["dates"][field] == interview[field], field
        assert doc["dates"]["cancelled_at"] is None

    def test_an_interview_just_requested_names_its_request_day(
        self, client: TestClient, user: User
    ) -> None:
        contact = create_contact(client, user, full_name="Jürgen O'Brien-Müller")
        interview = create_interview(client, user, contact_id=contact["id"], mode="email")
        r = export_interview(client, user, interview["id"])
        day = interview["requested_at"][:10]
        assert r.headers["content-disposition"] == (
            f'attachment; filename="interview-{day}-jurgen-o-brien-muller.md"'
        )
        assert "_No questions recorded._" in r.text
        assert "- **Mode:** Email" in r.text
        assert "Referred by" not in r.text
        assert (
            export_interview(client, user, interview["id"], format="json").json()["referral"]
            is None
        )

    def test_a_cancelled_interview_says_why(self, client: TestClient, user: User) -> None:
        interview = create_interview(client, user)
        r = client.post(
            f"/api/v1/interviews/{interview['id']}/transitions",
            json={"to": "cancelled", "reason": "No answer\nafter two letters"},
            headers=user.headers,
        )
        assert r.status_code == 200, r.text
        text = export_interview(client, user, interview["id"]).text
        assert "- **Reason for cancelling:** No answer after two letters" in text.splitlines()
        assert "- **State:** cancelled" in text

    def test_an_unknown_format_is_a_422(self, client: TestClient, user: User) -> None:
        interview = create_interview(client, user)
        body = assert_problem(export_interview(client, user, interview["id"], format="pdf"), 422)
        assert body["errors"][0]["loc"] == ["query", "format"]

    def test_another_users_interview_is_not_found(self, client: TestClient, user: User) -> None:
        interview = create_interview(client, user)
        other = register(client)
        assert_problem(export_interview(client, other, interview["id"]), 404, "interview_not_found")
        assert_problem(export_interview(client, user, str(uuid.uuid4())), 404)
        assert_problem(export_interview(client, user, "not-a-uuid"), 422)
        r = client.get(f"/api/v1/interviews/{interview['id']}/export")
        assert_problem(r, 401)


class TestOneFormatOperations:
    """``…/export/markdown`` and ``…/export/json``: one media type each, so a generated client
    types the body (text, or the ``InterviewExport`` model); the same write-up as ``?format=``."""

    @pytest.mark.parametrize(
        ("path", "format", "media_type", "extension"),
        [
            ("markdown", "markdown", "text/markdown; charset=utf-8", "md"),
            ("json", "json", "application/json", "json"),
        ],
    )
    def test_the_same_write_up_as_the_format_parameter_gives(
        self,
        client: TestClient,
        user: User,
        path: str,
        format: str,
        media_type: str,
        extension: str,
    ) -> None:
        interview = rich_account(client, user)["interview"]
        url = f"/api/v1/interviews/{interview['id']}/export/{path}"
        r = client.get(url, headers=user.headers)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == media_type
        assert r.headers["cache-control"] == "no-store"
        day = interview["held_at"][:10]
        assert r.headers["content-disposition"] == (
            f'attachment; filename="interview-{day}-jane-doe.{extension}"'
        )
        same = export_interview(client, user, interview["id"], format=format)
        if format == "json":  # the same document, but for the moment it was written
            assert r.json() | {"exported_at": None} == same.json() | {"exported_at": None}
        else:
            assert r.text == same.text

    @pytest.mark.parametrize("path", ["markdown", "json"])
    def test_another_users_interview_is_not_found(
        self, client: TestClient, user: User, path: str
    ) -> None:
        interview = create_interview(client, user)
        other = register(client)
        url = f"/api/v1/interviews/{{}}/export/{path}"
        r = client.get(url.format(interview["id"]), headers=other.headers)
        assert_problem(r, 404, "interview_not_found")
        assert_problem(client.get(url.format(uuid.uuid4()), headers=user.headers), 404)
        assert_problem(client.get(url.format("not-a-uuid"), headers=user.headers), 422)
        assert_problem(client.get(url.format(interview["id"])), 401)


def export(client: TestClient, user: User) -> dict[str, Any]:
    r = client.get("/api/v1/export", headers=user.headers)
    assert r.status_code == 200, r.text
    document: dict[str, Any] = r.json()
    return document


class TestAccountExport:
    def test_everything_the_user_owns_as_one_document(self, client: TestClient, user: User) -> None:
        built = rich_account(client, user)
        register_other = register(client)
        create_contact(client, register_other, full_name="Not Yours")
        r = client.get("/api/v1/export", headers=user.headers)
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["content-disposition"].startswith('attachment; filename="infoview-export-')
        doc = r.json()
        assert (doc["format"], doc["version"]) == ("infoview-export", 1)
        assert doc["user"] == {
            "id": user.id,
            "email": user.email,
            "full_name": None,
            "time_zone": "UTC",
        }
        names = [c["full_name"] for c in doc["contacts"]]
        assert len(names) == 5 and "Not Yours" not in names
        jane = next(c for c in doc["contacts"] if c["id"] == built["jane"]["id"])
        public = client.get(f"/api/v1/contacts/{jane['id']}", headers=user.headers).json()
        assert jane == public  # the same fields and values as the API shows
        [referral] = doc["referrals"]
        assert referral["referred_on"] == "2026-10-01"
        assert len(doc["interviews"]) == 3
        walked = next(i for i in doc["interviews"] if i["id"] == built["interview"]["id"])
        shown = dict(built["interview"])
        assert {k: walked[k] for k in shown} == shown
        assert walked["checklist"]["opening_statement"]["done"] is True
        assert walked["checklist"]["opening_statement"]["text"]
        assert [(e["from_state"], e["to_state"]) for e in walked["events"]] == [
            ("request", "prepared"),
            ("prepared", "held"),
            ("held", "thanked"),
            ("thanked", "reported-back"),
        ]
        assert {e["actor"] for e in walked["events"]} == {user.id}
        kinds = sorted((x["kind"], x["status"]) for x in doc["letters"])
        assert kinds == [
            ("keep_in_touch", "draft"),
            ("report_back", "sent"),
            ("request", "draft"),
            ("request", "sent"),
            ("thank_you", "sent"),
        ]
        assert all((x["sent_at"] is None) == (x["status"] == "draft") for x in doc["letters"])
        assert [(t["kind"], t["source"]) for t in doc["templates"]] == [("keep_in_touch", TEMPLATE)]

    def test_an_empty_account_exports_empty_lists(self, client: TestClient, user: User) -> None:
        doc = export(client, user)
        assert {k: doc[k] for k in ("contacts", "referrals", "interviews", "letters")} == {
            "contacts": [],
            "referrals": [],
            "interviews": [],
            "letters": [],
        }

    def test_rows_are_read_in_batches_and_streamed_in_chunks(
        self, client: TestClient, user: User
    ) -> None:
        count = account.BATCH * 2 + 7
        rows = "".join(f"Person {i:04d},p{i:04d}@example.com\n" for i in range(count))
        r = client.post(
            "/api/v1/contacts/import",
            content=("full_name,email\n" + rows).encode(),
            headers={**user.headers, "Content-Type": "text/csv"},
        )
        assert r.status_code == 200, r.text
        doc = export(client, user)
        ids = [c["id"] for c in doc["contacts"]]
        assert len(ids) == count == len(set(ids))
        assert ids == sorted(ids)  # in id order across the batch boundaries
        app: Any = client.app
        chunks = list(account.stream_export(app.state.engine, uuid.UUID(user.id)))
        # head, then per section an opening, one chunk per batch, and a closing.
        assert len(chunks) >= 1 + (1 + 3 + 1)
        assert max(len(c) for c in chunks) < len(b"".join(chunks)) / 2
        assert json.loads(b"".join(chunks))["contacts"] == doc["contacts"]

    def test_a_token_needs_the_export_scope(self, client: TestClient, user: User) -> None:
        tokens = {}
        for scopes in (["export"], ["contacts:read", "interviews:read"]):
            r = client.post(
                "/api/v1/tokens", json={"name": "backup", "scopes": scopes}, headers=user.headers
            )
            assert r.status_code == 201, r.text
            tokens[scopes[0]] = {"Authorization": f"Bearer {r.json()['token']}"}
        assert client.get("/api/v1/export", headers=tokens["export"]).status_code == 200
        r = client.get("/api/v1/export", headers=tokens["contacts:read"])
        assert_problem(r, 403, "insufficient_scope")

    def test_it_needs_a_bearer_token(self, client: TestClient) -> None:
        assert_problem(client.get("/api/v1/export"), 401)
