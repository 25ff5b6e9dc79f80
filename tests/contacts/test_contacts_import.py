"""POST /api/v1/contacts/import (CSV and vCard), and ``infoview import-contacts``.

Every test that takes ``client`` runs on SQLite and on PostgreSQL. Sample files live in
``tests/data/``.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from app.contacts.schemas import Contact
from app.webhooks.schemas import OutboxEvent
from tests.factories import User, assert_problem, register
from tests.factories_contacts import create_contact

DATA = Path(__file__).resolve().parents[1] / "data"
HEADER = (
    "full_name,email,phone,organization,title,career_field,profile_url,notes,tags,"
    "keep_in_touch_days,external_id,source"
)


def post_import(
    client: TestClient,
    user: User,
    body: str | bytes,
    content_type: str = "text/csv",
    **params: Any,
) -> httpx.Response:
    content = body.encode() if isinstance(body, str) else body
    return client.post(
        "/api/v1/contacts/import",
        content=content,
        params={k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()},
        headers={**user.headers, "Content-Type": content_type},
    )


def imported(client: TestClient, user: User, body: str | bytes, **kw: Any) -> dict[str, Any]:
    r = post_import(client, user, body, **kw)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def contacts(client: TestClient, user: User) -> list[dict[str, Any]]:
    """All of the user's contacts, oldest first."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        r = client.get("/api/v1/contacts", params=params, headers=user.headers)
        assert r.status_code == 200, r.text
        page = r.json()
        found += page["data"]
        if not page["has_more"]:
            return found[::-1]
        cursor = page["next_cursor"]


def by_name(client: TestClient, user: User) -> dict[str, dict[str, Any]]:
    return {c["full_name"]: c for c in contacts(client, user)}


def count(client: TestClient, model: Any, user: User, **where: Any) -> int:
    app: Any = client.app
    with Session(app.state.engine) as session:
        query = select(func.count()).select_from(model).where(model.owner_id == uuid.UUID(user.id))
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(session.execute(query).scalar_one())


@pytest.fixture
def user(client: TestClient) -> User:
    return register(client)


class TestCsv:
    def test_the_sample_file_creates_a_contact_per_row_with_every_column(
        self, client: TestClient, user: User
    ) -> None:
        result = imported(client, user, (DATA / "contacts.csv").read_bytes())
        rows = result.pop("rows")
        assert result == {
            "format": "infoview",
            "encoding": "utf-8",
            "delimiter": ",",
            "created": 3,
            "updated": 0,
            "unchanged": 0,
            "skipped": 0,
            "flagged": 0,
            "errors": [],
            "error_count": 0,
            "warnings": [],
            "warning_count": 0,
            "dry_run": False,
        }
        people = by_name(client, user)
        assert [(r["action"], r["contact_id"]) for r in rows] == [
            ("created", people[r["full_name"]]["id"]) for r in rows
        ]
        ada = people["Ada Lovelace"]
        assert ada["email"] == "ada@example.com"
        assert ada["phone"] == "+44 20 7946 0000"
        assert ada["organization"] == "Analytical Engines"
        assert ada["title"] == "Programmer"
        assert ada["career_field"] == "software"
        assert ada["profile_url"] == "https://example.com/ada"
        assert ada["notes"] == "Met at the Royal Society; wants to hear\nhow the project goes"
        assert ada["tags"] == ["mentor", "math"]
        assert ada["keep_in_touch_days"] == 90
        assert (ada["external_id"], ada["source"]) == (None, None)
        grace = people["Grace Hopper"]
        assert (grace["external_id"], grace["source"]) == ("gh-1", "crm")
        assert people["Katherine Johnson"]["email"] is None

    def test_header_names_ignore_case_and_spaces_and_come_in_any_order(
        self, client: TestClient, user: User
    ) -> None:
        body = " Email , FULL_NAME ,Tags\nbo@example.com,Bo Chen, alumni ; finance ;\n"
        assert imported(client, user, body)["created"] == 1
        bo = by_name(client, user)["Bo Chen"]
        assert (bo["email"], bo["tags"]) == ("bo@example.com", ["alumni", "finance"])

    def test_an_unknown_column_refuses_the_file_and_names_it(
        self, client: TestClient, user: User
    ) -> None:
        r = post_import(client, user, "full_name,emial\nBo Chen,bo@example.com\n")
        body = assert_problem(r, 422, "unknown_column")
        assert body["column"] == "emial"
        assert "'emial'" in body["detail"]
        assert body["errors"] == [{"line": 1, "message": "Unknown column 'emial' in the header."}]
        assert contacts(client, user) == []

    def test_a_header_without_full_name_or_with_a_repeated_or_unnamed_column_is_refused(
        self, client: TestClient, user: User
    ) -> None:
        for header, code in (
            ("email,phone", "missing_column"),
            ("full_name,email,Email", "duplicate_column"),
            ("full_name,,email", "unnamed_column"),
        ):
            r = post_import(client, user, f"{header}\nBo Chen,bo@example.com,x\n")
            assert_problem(r, 422, code)
        for body in ("", "  \n"):
            assert_problem(post_import(client, user, body), 422, "empty_file")
        assert contacts(client, user) == []

    MALFORMED = (
        "full_name,email,notes\n"
        "Ada Lovelace,ada@example.com,\n"
        'Bo Chen,bo@example.com,"two\nlines"\n'
        " ,cy@example.com,no name\n"
        "Di Prince,di@example.com,\n"
    )

    def test_a_malformed_row_in_the_middle_writes_nothing_and_names_its_line(
        self, client: TestClient, user: User
    ) -> None:
        r = post_import(client, user, self.MALFORMED)
        body = assert_problem(r, 422, "invalid_rows")
        assert body["error_count"] == 1
        [error] = body["errors"]
        assert error["line"] == 5  # header = 1; Bo Chen's quoted notes span lines 3 and 4
        assert error["message"] == "the row has no name; every contact needs one"
        assert contacts(client, user) == []
        assert count(client, OutboxEvent, user) == 0

    def test_with_on_error_skip_the_other_rows_are_written(
        self, client: TestClient, user: User
    ) -> None:
        result = imported(client, user, self.MALFORMED, on_error="skip")
        assert (result["created"], result["skipped"], result["dry_run"]) == (3, 1, False)
        assert [e["line"] for e in result["errors"]] == [5]
        assert set(by_name(client, user)) == {"Ada Lovelace", "Bo Chen", "Di Prince"}

    BAD_ROWS = (
        (",x@example.com,,,", "the row has no name"),
        ('"  ",y@example.com,,,,,,,,,,', "the row has no name"),
    )

    def test_each_kind_of_bad_row_is_reported_with_its_line(
        self, client: TestClient, user: User
    ) -> None:
        lines = [HEADER, "Ada Lovelace,,,,,,,,,,,"]
        for row, _ in self.BAD_ROWS:
            lines += [row, "Good Row,,,,,,,,,,,"]
        r = post_import(client, user, "\n".join(lines) + "\n")
        body = assert_problem(r, 422, "invalid_rows")
        assert body["error_count"] == len(self.BAD_ROWS)
        for error, (row, message), line in zip(
            body["errors"], self.BAD_ROWS, range(3, 3 + 2 * len(self.BAD_ROWS), 2), strict=True
        ):
            assert error["line"] == line, row
            assert message in error["message"], (row, error)
        assert contacts(client, user) == []

    # An unusable value leaves the field out (or repairs it) and says so; the contact stays.
    WARNED_ROWS = (
        ("Bo,,,,,,,,,,,,extra", None, "has 13 cells; the header names 12"),
        ("Bo,,,,,,,,,soon,,", "keep_in_touch_days", "'soon' is not a whole number"),
        ("Bo,,,,,,,,,0,,", "keep_in_touch_days", "greater than or equal to 1"),
        ("Bo,,,,,,not a url,,,,,", "profile_url", "'not a url'"),
        ("Bo,,,,,,,,,,,crm", "source", "a source without an external_id"),
        ("Bo,,,,,,,,,,bad\x01id,crm", "external_id", "left out"),
        ("B" * 201 + ",,,,,,,,,,,", "full_name", "longer than 200 characters; cut there"),
        ("Bo,,,,,,,," + ";".join(f"t{i}" for i in range(51)) + ",,,", "tags", "first 50"),
        ("Bo,bo@,,,,,,,,,,", "email", "'bo@'"),
    )

    def test_each_kind_of_unusable_value_is_left_out_with_a_warning_on_its_line(
        self, client: TestClient, user: User
    ) -> None:
        lines = [HEADER]
        for row, _, _ in self.WARNED_ROWS:
            lines += [row]
        result = imported(client, user, "\n".join(lines) + "\n")
        assert (result["created"], result["error_count"]) == (len(self.WARNED_ROWS), 0)
        assert result["warning_count"] == len(self.WARNED_ROWS)
        for warning, (row, field, message), line in zip(
            result["warnings"], self.WARNED_ROWS, range(2, 2 + len(self.WARNED_ROWS)), strict=True
        ):
            assert (warning["line"], warning["field"]) == (line, field), row
            assert message in warning["message"], (row, warning)
        for contact in contacts(client, user):
            assert contact["email"] is None
            assert contact["profile_url"] is None
            assert contact["keep_in_touch_days"] is None
            assert (contact["external_id"], contact["source"]) == (None, None)
            assert len(contact["tags"]) <= 50
            assert len(contact["full_name"]) <= 200

    def test_a_website_without_a_scheme_is_repaired_and_further_values_go_to_the_notes(
        self, client: TestClient, user: User
    ) -> None:
        body = "full_name,profile_url,notes\nBo,www.example.com/bo,met at the fair\n"
        result = imported(client, user, body)
        assert result["warnings"] == []
        [bo] = contacts(client, user)
        assert bo["profile_url"] == "https://www.example.com/bo"

    def test_blank_lines_are_skipped_and_short_rows_padded(
        self, client: TestClient, user: User
    ) -> None:
        body = "full_name,email,title\n\nAda Lovelace\n\n\nBo Chen,bo@example.com\n"
        assert imported(client, user, body)["created"] == 2
        assert by_name(client, user)["Bo Chen"]["title"] is None

    def test_dry_run_answers_what_would_happen_and_writes_nothing(
        self, client: TestClient, user: User
    ) -> None:
        existing = create_contact(client, user, full_name="Ada Lovelace", email="ada@example.com")
        body = "full_name,email,title\nAda Lovelace,ada@example.com,Countess\nBo Chen,,\n"
        result = imported(client, user, body, dry_run=True)
        assert (result["created"], result["updated"], result["dry_run"]) == (1, 1, True)
        assert [(r["line"], r["action"], r["contact_id"]) for r in result["rows"]] == [
            (2, "updated", existing["id"]),
            (3, "created", None),
        ]
        assert [c["id"] for c in contacts(client, user)] == [existing["id"]]
        r = client.get(f"/api/v1/contacts/{existing['id']}", headers=user.headers)
        assert r.json() == existing
        assert r.headers["etag"] == '"1"'
        assert count(client, OutboxEvent, user, type="contact.updated") == 0
        # The very same request without dry_run does what the dry run said.
        result = imported(client, user, body)
        assert (result["created"], result["updated"], result["dry_run"]) == (1, 1, False)

    def test_dry_run_with_a_bad_row_is_refused_like_the_real_run(
        self, client: TestClient, user: User
    ) -> None:
        r = post_import(client, user, self.MALFORMED, dry_run=True)
        assert_problem(r, 422, "invalid_rows")
        result = imported(client, user, self.MALFORMED, dry_run=True, on_error="skip")
        assert (result["created"], result["skipped"], result["dry_run"]) == (3, 1, True)
        assert contacts(client, user) == []


class TestDuplicates:
    def test_a_row_with_a_known_email_updates_that_contact_ignoring_case(
        self, client: TestClient, user: User
    ) -> None:
        ada = create_contact(
            client,
            user,
            full_name="ada  lovelace",
            email="Ada@Example.com",
            notes="met at the fair",
            tags=["mentor"],
        )
        body = "full_name,email,title,tags\nAda Lovelace,ada@EXAMPLE.com,Countess,math;mentor\n"
        result = imported(client, user, body)
        assert (result["created"], result["updated"]) == (0, 1)
        [after] = contacts(client, user)
        assert after["id"] == ada["id"]
        assert after["full_name"] == "Ada Lovelace"
        assert after["email"] == "ada@example.com"  # as the file has it (domains lower-cased)
        assert after["title"] == "Countess"
        assert after["notes"] == "met at the fair"  # not in the file: left alone
        assert after["tags"] == ["mentor", "math"]  # added to, not replaced
        r = client.get(f"/api/v1/contacts/{ada['id']}", headers=user.headers)
        assert r.headers["etag"] == '"2"'
        assert count(client, OutboxEvent, user, type="contact.updated") == 1

    def test_a_row_with_a_known_source_and_external_id_updates_that_contact(
        self, client: TestClient, user: User
    ) -> None:
        r = client.put(
            "/api/v1/contacts/by-external-id/crm/gh-1",
            json={"full_name": "Grace", "email": "grace@old.example.com"},
            headers=user.headers,
        )
        assert r.status_code == 201, r.text
        grace = r.json()
        body = "full_name,email,external_id,source\nGrace Hopper,grace@example.com,gh-1,crm\n"
        result = imported(client, user, body)
        assert (result["created"], result["updated"]) == (0, 1)
        [after] = contacts(client, user)
        assert after["id"] == grace["id"]
        assert (after["full_name"], after["email"]) == ("Grace Hopper", "grace@example.com")

    def test_the_source_parameter_applies_to_rows_with_an_external_id(
        self, client: TestClient, user: User
    ) -> None:
        body = "full_name,external_id,source\nAda,a-1,\nBo,b-1,other\nCy,,\n"
        assert imported(client, user, body, source="linkedin")["created"] == 3
        people = by_name(client, user)
        assert (people["Ada"]["source"], people["Ada"]["external_id"]) == ("linkedin", "a-1")
        assert people["Bo"]["source"] == "other"
        assert (people["Cy"]["source"], people["Cy"]["external_id"]) == (None, None)
        # Again with the same parameter: found by source + external id, nothing doubled.
        body = "full_name,external_id,title\nAda,a-1,Countess\n"
        assert imported(client, user, body, source="linkedin")["updated"] == 1
        assert len(contacts(client, user)) == 3

    def test_without_a_source_an_external_id_belongs_to_csv(
        self, client: TestClient, user: User
    ) -> None:
        imported(client, user, "full_name,external_id\nAda,a-1\n")
        [ada] = contacts(client, user)
        assert (ada["source"], ada["external_id"]) == ("csv", "a-1")

    def test_duplicates_within_one_file_make_one_contact(
        self, client: TestClient, user: User
    ) -> None:
        body = (
            "full_name,email,title,external_id\n"
            "Ada,ada@example.com,,\n"
            "ADA,ADA@example.com,Countess,a-1\n"
            "Ada L.,,,a-1\n"
        )
        result = imported(client, user, body)
        assert (result["created"], result["updated"], result["unchanged"]) == (1, 2, 0)
        [ada] = contacts(client, user)
        assert ada["full_name"] == "Ada L."
        assert (ada["email"], ada["title"], ada["external_id"]) == (
            "ADA@example.com",
            "Countess",
            "a-1",
        )
        assert count(client, OutboxEvent, user, type="contact.created") == 1
        assert count(client, OutboxEvent, user, type="contact.updated") == 0

    def test_importing_the_same_file_again_changes_nothing(
        self, client: TestClient, user: User
    ) -> None:
        body = "full_name,email,tags\nAda,ada@example.com,math\nBo,bo@example.com,\n"
        imported(client, user, body)
        before = contacts(client, user)
        result = imported(client, user, body)
        assert (result["created"], result["updated"], result["unchanged"]) == (0, 0, 2)
        assert contacts(client, user) == before

    def test_an_email_and_name_match_on_a_contact_with_another_external_id_is_someone_else(
        self, client: TestClient, user: User
    ) -> None:
        ada = create_contact(
            client, user, full_name="Ada", email="ada@example.com", external_id="a-1", source="crm"
        )
        body = "full_name,email,external_id,source\nAda,ada@example.com,a-2,crm\n"
        result = imported(client, user, body)
        assert (result["created"], result["updated"], result["flagged"]) == (1, 0, 1)
        assert result["rows"][0]["possible_duplicate_of"] == ada["id"]
        r = client.get(f"/api/v1/contacts/{ada['id']}", headers=user.headers)
        assert r.json() == ada

    def test_the_same_email_under_another_name_is_a_new_contact_never_an_overwrite(
        self, client: TestClient, user: User
    ) -> None:
        ana = create_contact(client, user, full_name="Ana Lima", email="lima@example.com")
        body = (
            "full_name,email,title\n"
            "Bruno Lima,LIMA@example.com,Nurse\n"
            "Ana Lima,lima@example.com,Teacher\n"
            "Bruno Lima,lima@example.com,Head nurse\n"
        )
        dry = imported(client, user, body, dry_run=True)
        result = imported(client, user, body)
        for answer in (dry, result):
            assert (answer["created"], answer["updated"], answer["flagged"]) == (1, 2, 1)
            first = answer["rows"][0]
            assert (first["action"], first["possible_duplicate_of"]) == ("created", ana["id"])
        people = by_name(client, user)
        assert people["Ana Lima"]["id"] == ana["id"]
        assert people["Ana Lima"]["title"] == "Teacher"
        assert people["Bruno Lima"]["title"] == "Head nurse"
        assert result["rows"][2]["contact_id"] == people["Bruno Lima"]["id"]

    def test_another_users_contacts_are_never_matched(self, client: TestClient, user: User) -> None:
        other = register(client)
        theirs = create_contact(client, other, email="ada@example.com")
        assert imported(client, user, "full_name,email\nAda,ada@example.com\n")["created"] == 1
        r = client.get(f"/api/v1/contacts/{theirs['id']}", headers=other.headers)
        assert r.json() == theirs

    def test_every_created_and_updated_contact_is_announced(
        self, client: TestClient, user: User
    ) -> None:
        create_contact(client, user, full_name="Ada", email="ada@example.com")
        body = "full_name,email,title\nAda,ada@example.com,Countess\nBo,bo@example.com,\n"
        imported(client, user, body)
        assert count(client, OutboxEvent, user, type="contact.created") == 2  # one by the API
        assert count(client, OutboxEvent, user, type="contact.updated") == 1

    def test_ten_thousand_rows_import_in_one_request(self, client: TestClient, user: User) -> None:
        rows = [
            f"Person {i:05d},p{i:05d}@example.com,Org {i % 97},alumni;cohort-{i % 7},x{i:05d}"
            for i in range(10_000)
        ]
        body = "full_name,email,organization,tags,external_id\n" + "\n".join(rows) + "\n"
        assert len(body.encode()) < 1024 * 1024
        result = imported(client, user, body)
        assert (result["created"], result["error_count"]) == (10_000, 0)
        assert count(client, Contact, user) == 10_000


class TestVcard:
    def test_the_sample_file_maps_every_property(self, client: TestClient, user: User) -> None:
        result = imported(
            client, user, (DATA / "contacts.vcf").read_bytes(), content_type="text/vcard"
        )
        assert (result["created"], result["error_count"]) == (3, 0)
        people = by_name(client, user)
        jane = people["Jane Doe"]
        assert jane["email"] == "jane@example.com"  # the preferred one
        assert jane["phone"] == "+1 555 0100"
        assert jane["organization"] == "Acme, Inc."
        assert jane["title"] == "Marketing Director"
        assert jane["profile_url"] == "https://example.com/jane"
        # The other address is kept in the notes, not lost.
        assert jane["notes"] == (
            "Met at the career fair, very helpful\nOther email: jane.work@example.com"
        )
        assert jane["tags"] == ["mentor", "marketing"]
        assert (jane["source"], jane["external_id"]) == ("vcard", "jane-0001")
        jurgen = people["Jürgen Müller"]  # vCard 4.0
        assert jurgen["email"] == "juergen@example.de"
        assert jurgen["external_id"] == "urn:uuid:3f2504e0-4f89-11d3-9a0c-0305e82c3301"
        assert people["Dr. John Q. Smith"]["email"] == "john.smith@example.org"  # from N

    def test_a_card_without_a_name_is_a_bad_row_at_its_begin_line(
        self, client: TestClient, user: User
    ) -> None:
        body = (
            "BEGIN:VCARD\nVERSION:3.0\nFN:Ada Lovelace\nEND:VCARD\n"
            "\n"
            "BEGIN:VCARD\nVERSION:3.0\nEMAIL:nobody@example.com\nEND:VCARD\n"
            "BEGIN:VCARD\nVERSION:4.0\nFN:Bo Chen\nEND:VCARD\n"
        )
        r = post_import(client, user, body, content_type="text/x-vcard")
        [error] = assert_problem(r, 422, "invalid_rows")["errors"]
        assert error == {"line": 6, "message": "the card has no name (neither FN nor N)"}
        assert contacts(client, user) == []
        result = imported(client, user, body, content_type="text/vcard", on_error="skip")
        assert (result["created"], result["skipped"]) == (2, 1)

    def test_a_malformed_card_is_a_bad_row(self, client: TestClient, user: User) -> None:
        zed = "BEGIN:VCARD\nVERSION:3.0\nFN:Zed\nEND:VCARD\n"
        for body, message in (
            ("BEGIN:VCARD\nVERSION:3.0\nFN Ada\nEND:VCARD\n", "cannot be read"),
            ("FN:Ada\n", "outside a BEGIN:VCARD"),
            ("BEGIN:VCARD\nEMAIL:ada@example.com\nEND:VCARD\n", "no name"),
            ("BEGIN:VCARD\nVERSION:3.0\nFN:Ada\n", "no END:VCARD"),
        ):
            r = post_import(client, user, zed + body, content_type="text/vcard")
            [error] = assert_problem(r, 422, "invalid_rows")["errors"]
            assert error["line"] == 5  # the line after Zed's card
            assert message in error["message"]
        assert contacts(client, user) == []

    def test_a_card_imported_again_is_found_by_its_uid(
        self, client: TestClient, user: User
    ) -> None:
        card = "BEGIN:VCARD\nVERSION:3.0\nFN:Ada\nTITLE:{}\nUID:ada-1\nEND:VCARD\n"
        imported(client, user, card.format("Programmer"), content_type="text/vcard")
        result = imported(client, user, card.format("Countess"), content_type="text/vcard")
        assert (result["created"], result["updated"]) == (0, 1)
        [ada] = contacts(client, user)
        assert ada["title"] == "Countess"

    def test_the_source_parameter_replaces_vcard(self, client: TestClient, user: User) -> None:
        card = "BEGIN:VCARD\nVERSION:3.0\nFN:Ada\nUID:ada-1\nEND:VCARD\n"
        imported(client, user, card, content_type="text/vcard", source="phone")
        [ada] = contacts(client, user)
        assert (ada["source"], ada["external_id"]) == ("phone", "ada-1")


class TestRequest:
    def test_a_request_the_import_cannot_read_is_refused_and_writes_nothing(
        self, client: TestClient, user: User
    ) -> None:
        for content_type in ("application/json", "application/x-www-form-urlencoded", "image/png"):
            r = post_import(client, user, "full_name\nAda\n", content_type=content_type)
            body = assert_problem(r, 415, "unsupported_media_type")
            assert {"text/csv", "multipart/form-data"} <= set(body["accepted"])
        r = client.post(
            "/api/v1/contacts/import", content=b"full_name\nAda\n", headers=user.headers
        )
        assert_problem(r, 415, "unsupported_media_type")
        # Declared UTF-8, and it is not: the declaration wins, so the file is refused.
        r = post_import(
            client,
            user,
            "full_name\nRenée\n".encode("latin-1"),
            content_type="text/csv; charset=utf-8",
        )
        assert_problem(r, 422, "invalid_encoding")
        # Charsets are an allow-list: an unknown one is refused before anything decodes the body.
        r = post_import(client, user, b"full_name\nx\n", content_type="text/csv; charset=klingon")
        body = assert_problem(r, 415, "unsupported_charset")
        assert "iso-8859-1" in body["accepted_charsets"]
        assert_problem(post_import(client, user, "full_name\nA\n", on_error="ignore"), 422)
        assert_problem(post_import(client, user, "full_name\nA\n", dry_run="maybe"), 422)
        assert_problem(post_import(client, user, "full_name\nA\n", source="a\nb"), 422)
        body = "full_name\n" + "Ada Lovelace\n" * 1_700_000  # just over 20 MiB
        problem = assert_problem(post_import(client, user, body), 413, "payload_too_large")
        assert "infoview import-contacts" in problem["detail"]
        body = "full_name\n" + "Ada Lovelace\n" * 50_001
        assert_problem(post_import(client, user, body), 422, "too_many_rows")
        r = client.post(
            "/api/v1/contacts/import",
            content=b"full_name\nA\n",
            headers={"Content-Type": "text/csv"},
        )
        assert_problem(r, 401)
        assert contacts(client, user) == []

    def test_utf8_with_a_byte_order_mark_and_other_charsets_are_read(
        self, client: TestClient, user: User
    ) -> None:
        imported(client, user, "\ufefffull_name\nJürgen\n".encode())
        imported(
            client,
            user,
            "full_name\nRenée\n".encode("latin-1"),
            content_type="text/csv; charset=ISO-8859-1",
        )
        assert set(by_name(client, user)) == {"Jürgen", "Renée"}

    def test_the_route_is_not_mistaken_for_a_contact_id(
        self, client: TestClient, user: User
    ) -> None:
        assert imported(client, user, "full_name\nAda\n")["created"] == 1
        r = client.post(f"/api/v1/contacts/{uuid.uuid4()}", headers=user.headers)
        assert_problem(r, 405)
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            r = client.request(method, "/api/v1/contacts/import", headers=user.headers)
            assert_problem(r, 405, "method_not_allowed")
            assert r.headers["allow"] == "POST"


# --- the command line -------------------------------------------------------------------------

INFOVIEW = Path(sys.executable).parent / "infoview"


class CommandLine:
    """Runs ``infoview`` in a subprocess against one migrated SQLite file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "infoview.db"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("INFOVIEW_")}
        self.env.update(
            INFOVIEW_DATABASE_URL=f"sqlite:///{self.path}",
            INFOVIEW_VAR_DIR=str(directory / "var"),
            INFOVIEW_ENV="test",
            INFOVIEW_SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",
        )

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(INFOVIEW), *args],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )

    def add_user(self, email: str) -> None:
        """Another account, written directly (``create-user`` is run once, by the fixture)."""
        with sqlite3.connect(self.path) as db:
            db.execute(
                "INSERT INTO user_account (id, email, password_hash, created_at, updated_at) "
                "VALUES (?, ?, 'x', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
                (uuid.uuid4().hex, email),
            )

    def names(self, email: str) -> list[str]:
        with sqlite3.connect(self.path) as db:
            rows = db.execute(
                "SELECT c.full_name FROM contact c JOIN user_account u ON u.id = c.owner_id "
                "WHERE u.email = ?",
                (email,),
            )
            return sorted(row[0] for row in rows)


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> CommandLine:
    """A SQLite database made by ``infoview migrate``, with ada@example.com made by
    ``infoview create-user``: the way an operator would set one up."""
    run = CommandLine(tmp_path_factory.mktemp("cli"))
    migrated = run("migrate")
    assert migrated.returncode == 0, migrated.stderr
    made = run("create-user", "ada@example.com", "--password", "correct horse battery")
    assert made.returncode == 0, made.stderr
    return run


class TestCommandLine:
    """``infoview import-contacts FILE --user EMAIL`` in a subprocess."""

    def test_it_imports_a_file_in_chunks_with_a_progress_bar(
        self, cli: CommandLine, tmp_path: Path
    ) -> None:
        rows = "".join(f"Person {i:05d},p{i:05d}@example.com\n" for i in range(5_100))
        big = tmp_path / "big.csv"
        big.write_text("full_name,email\n" + rows)
        done = cli("import-contacts", str(big), "--user", "ADA@example.com", "--dry-run")
        assert done.returncode == 0, done.stderr
        assert "dry run (read as infoview, utf-8), nothing written; would be 5100 created" in (
            done.stdout
        )
        assert cli.names("ada@example.com") == []
        done = cli("import-contacts", str(big), "--user", "ada@example.com")
        assert done.returncode == 0, done.stderr
        assert "5100 created, 0 updated, 0 unchanged, 0 skipped" in done.stdout
        assert "importing 5100 rows" in done.stderr  # the progress bar's last state
        assert len(cli.names("ada@example.com")) == 5_100
        # The second chunk's rows are found as well as the first's.
        again = cli("import-contacts", str(big), "--user", "ada@example.com")
        assert "0 created, 0 updated, 5100 unchanged" in again.stdout

    def test_vcards_by_extension(self, cli: CommandLine) -> None:
        cli.add_user("vcf@example.com")
        done = cli("import-contacts", str(DATA / "contacts.vcf"), "--user", "vcf@example.com")
        assert done.returncode == 0, done.stderr
        assert "3 created" in done.stdout
        assert "Jürgen Müller" in cli.names("vcf@example.com")

    def test_a_bad_row_aborts_unless_told_to_skip(self, cli: CommandLine, tmp_path: Path) -> None:
        cli.add_user("bo@example.com")
        path = tmp_path / "people.txt"
        path.write_text("full_name,email\nAda,ada@example.com\n,bo@example.com\nCy,\n")
        done = cli("import-contacts", str(path), "--user", "bo@example.com")
        assert done.returncode == 1
        assert "line 3: the row has no name" in done.stderr
        assert "nothing was imported" in done.stderr
        assert "pass --on-error skip" in done.stderr  # its own flag, not the API's parameter
        assert cli.names("bo@example.com") == []
        done = cli(
            *("import-contacts", str(path), "--user", "bo@example.com", "--format", "csv"),
            *("--on-error", "skip"),
        )
        assert done.returncode == 0, done.stderr
        assert "2 created, 0 updated, 0 unchanged, 1 skipped" in done.stdout
        assert "line 3: the row has no name" in done.stderr
        assert cli.names("bo@example.com") == ["Ada", "Cy"]

    def test_an_unknown_user_or_header_is_an_error(self, cli: CommandLine, tmp_path: Path) -> None:
        path = tmp_path / "people.csv"
        path.write_text("name,email\nAda,ada@example.com\n")
        done = cli("import-contacts", str(path), "--user", "nobody@example.com")
        assert (done.returncode, "no user with email" in done.stderr) == (1, True)
        done = cli("import-contacts", str(path), "--user", "ada@example.com")
        assert done.returncode == 1
        assert "Unknown column 'name'" in done.stderr
        assert "Traceback" not in done.stderr
        done = cli(
            *("import-contacts", str(path), "--user", "ada@example.com"),
            *("--map", "full_name:name", "--map", "email:email"),
        )
        assert done.returncode == 0, done.stderr
        assert "1 created, 0 updated" in done.stdout
