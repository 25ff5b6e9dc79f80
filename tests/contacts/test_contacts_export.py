"""Contacts exported as a vCard file (4.0 and 3.0) or a Google Contacts CSV.

Every vCard is read back with ``vobject``, every CSV with the ``csv`` module: what the user
typed comes back, whatever commas, semicolons, backslashes, line breaks or letters it holds.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import vobject
from fastapi.testclient import TestClient

from app.contacts import exporting
from app.contacts.exporting import CSV_HEADER, VCardVersion, fold, split_name, tel_uri
from tests.accounts.test_access_tokens import bearer, create_token
from tests.factories import User, assert_problem, register
from tests.factories_contacts import create_contact

EXPORT = "/api/v1/contacts/export"
BOM = "\ufeff"
VCARD_TYPE = "text/vcard; charset=utf-8"
CSV_TYPE = "text/csv; charset=utf-8"

EVERY_FIELD: dict[str, Any] = {
    "full_name": "Ada Augusta King Lovelace",
    "email": "ada@example.com",
    "phone": "+44 20 7946 0000",
    "organization": "Analytical Engines, Ltd",
    "title": "Analyst; poet",
    "career_field": "computing",
    "profile_url": "https://example.com/ada",
    "notes": "Met at the meetup.",
    "tags": ["mentor", "alumni"],
    "keep_in_touch_days": 90,
}


def export(client: TestClient, user: User, **params: Any) -> httpx.Response:
    r = client.get(EXPORT, params=params, headers=user.headers)
    assert r.status_code == 200, r.text
    return r


def cards(response: httpx.Response) -> list[Any]:
    """The vCards of an export, read by vobject; every line CRLF-ended and within 75 octets."""
    body = response.content
    assert body == b"" or body.endswith(b"\r\n")
    lines = body.split(b"\r\n")[:-1]
    assert all(b"\n" not in line and b"\r" not in line for line in lines)
    for line in lines:
        assert len(line) <= 75, line
        line.decode("utf-8")  # no UTF-8 sequence is cut by a fold
    return list(vobject.readComponents(body.decode("utf-8")))


def by_name(found: list[Any]) -> dict[str, Any]:
    return {card.fn.value: card for card in found}


def csv_rows(response: httpx.Response) -> list[dict[str, str]]:
    """The rows of a CSV export, by column; the header is Google's, behind a BOM."""
    text = response.content.decode("utf-8")
    assert text.startswith(BOM)
    assert text.endswith("\r\n")
    reader = csv.reader(io.StringIO(text[1:], newline=""))
    header = next(reader)
    assert tuple(header) == CSV_HEADER
    return [dict(zip(header, row, strict=True)) for row in reader]


def unfolded(response: httpx.Response) -> str:
    return response.content.decode("utf-8").replace("\r\n ", "")


def rev(contact: dict[str, Any]) -> str:
    at = datetime.fromisoformat(contact["updated_at"].replace("Z", "+00:00"))
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


class TestVCard:
    def test_version_4_carries_every_field(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user, **EVERY_FIELD)
        r = export(client, user)  # vCard 4.0 is the default
        assert r.headers["content-type"] == VCARD_TYPE
        assert r.headers["content-disposition"] == 'attachment; filename="infoview-contacts.vcf"'
        assert r.headers["cache-control"] == "no-store"
        assert r.content.startswith(b"BEGIN:VCARD\r\nVERSION:4.0\r\n")

        (card,) = cards(r)
        assert card.version.value == "4.0"
        assert card.fn.value == "Ada Augusta King Lovelace"
        name = card.n.value
        assert (name.given, name.additional, name.family) == ("Ada", "Augusta King", "Lovelace")
        assert card.email.value == "ada@example.com"
        assert card.email.params == {"PREF": ["1"]}
        assert card.tel.value == "tel:+44-20-7946-0000"
        assert card.tel.params == {"VALUE": ["uri"]}
        assert card.org.value == ["Analytical Engines, Ltd"]
        assert card.title.value == "Analyst; poet"
        assert card.url.value == "https://example.com/ada"
        assert card.note.value == "Met at the meetup."
        assert card.categories.value == ["mentor", "alumni"]
        assert card.uid.value == f"urn:uuid:{contact['id']}"
        assert card.rev.value == rev(contact)
        assert card.contents["x-infoview-career-field"][0].value == "computing"
        assert card.contents["x-infoview-keep-in-touch-days"][0].value == "90"

    def test_version_3_carries_every_field(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user, **EVERY_FIELD)
        r = export(client, user, format="vcard", vcard_version="3.0")
        assert r.headers["content-type"] == VCARD_TYPE
        assert r.content.startswith(b"BEGIN:VCARD\r\nVERSION:3.0\r\n")

        (card,) = cards(r)
        assert card.version.value == "3.0"
        assert card.fn.value == "Ada Augusta King Lovelace"
        assert card.n.value.family == "Lovelace" and card.n.value.given == "Ada"
        assert card.email.value == "ada@example.com"
        assert card.email.params == {"TYPE": ["INTERNET", "PREF"]}
        assert card.tel.value == "+44 20 7946 0000"
        assert card.tel.params == {}
        assert card.org.value == ["Analytical Engines, Ltd"]
        assert card.title.value == "Analyst; poet"
        assert card.url.value == "https://example.com/ada"
        assert card.note.value == "Met at the meetup."
        assert card.categories.value == ["mentor", "alumni"]
        assert card.uid.value == contact["id"]
        assert card.rev.value == rev(contact)
        assert card.contents["x-infoview-career-field"][0].value == "computing"

    def test_a_bare_contact_has_a_name_and_nothing_empty(self, client: TestClient) -> None:
        user = register(client)
        create_contact(client, user, full_name="Cher")
        for version in ("4.0", "3.0"):
            r = export(client, user, vcard_version=version)
            (card,) = cards(r)
            assert card.fn.value == "Cher"
            assert (card.n.value.given, card.n.value.family) == ("Cher", "")
            present = set(card.contents)
            assert present == {"version", "prodid", "fn", "n", "uid", "rev"}, present

    def test_a_local_or_worded_phone_stays_text_in_4_0(self, client: TestClient) -> None:
        user = register(client)
        create_contact(client, user, full_name="Local", phone="555-0100")
        create_contact(client, user, full_name="Desk", phone="ask reception, ext 4")
        create_contact(client, user, full_name="Far", phone="+1 (555) 010-0199 ext. 7")
        found = by_name(cards(export(client, user)))
        assert found["Local"].tel.value == "555-0100"
        assert found["Local"].tel.params == {"VALUE": ["text"]}
        assert found["Desk"].tel.value == "ask reception, ext 4"
        assert "TEL;VALUE=text:ask reception\\, ext 4\r\n" in unfolded(export(client, user))
        assert found["Far"].tel.value == "tel:+1-555-010-0199;ext=7"

    def test_non_ascii_names(self, client: TestClient) -> None:
        user = register(client)
        names = ["Zoë Ångström", "李小龍", "Đặng Thị Ngọc Hân", "Łukasz Żółć-Brzęczyszczykiewicz"]
        for name in names:
            create_contact(client, user, full_name=name, organization="Société Générale")
        for version in ("4.0", "3.0"):
            found = by_name(cards(export(client, user, vcard_version=version)))
            assert sorted(found) == sorted(names)
            assert found["Zoë Ångström"].n.value.family == "Ångström"
            assert found["李小龍"].n.value.given == "李小龍"
            hân = found["Đặng Thị Ngọc Hân"].n.value
            assert (hân.given, hân.additional, hân.family) == ("Đặng", "Thị Ngọc", "Hân")
            assert found["李小龍"].org.value == ["Société Générale"]

    def test_commas_semicolons_backslashes_and_line_breaks(self, client: TestClient) -> None:
        user = register(client)
        notes = "First, second; third\\fourth\nnext line\r\nand a Windows one\rand an old Mac one"
        create_contact(
            client,
            user,
            full_name="O'Brien, Jr; Pat",
            organization="R&D; Labs, Inc",
            title="Lead\\Head",
            notes=notes,
            tags=["a,b", "c;d", "e\\f"],
            career_field="law, policy",
        )
        for version in ("4.0", "3.0"):
            r = export(client, user, vcard_version=version)
            text = unfolded(r)
            assert "NOTE:First\\, second\\; third\\\\fourth\\nnext line\\nand a Windows" in text
            assert "CATEGORIES:a\\,b,c\\;d,e\\\\f\r\n" in text
            assert "FN:O'Brien\\, Jr\\; Pat\r\n" in text
            assert "N:Pat;O'Brien\\,;Jr\\;;;\r\n" in text
            (card,) = cards(r)
            assert card.note.value == notes.replace("\r\n", "\n").replace("\r", "\n")
            assert card.fn.value == "O'Brien, Jr; Pat"
            assert card.org.value == ["R&D; Labs, Inc"]
            assert card.title.value == "Lead\\Head"
            assert card.categories.value == ["a,b", "c;d", "e\\f"]
            assert card.contents["x-infoview-career-field"][0].value == "law, policy"

    def test_uri_values_are_not_escaped(self, client: TestClient) -> None:
        user = register(client)
        create_contact(
            client, user, full_name="Uri", profile_url="https://example.com/in/josé?a=1,2;b=3"
        )
        text = unfolded(export(client, user))
        assert "\r\nURL:https://example.com/in/jos%C3%A9?a=1,2;b=3\r\n" in text

    def test_long_lines_are_folded_at_75_octets(self, client: TestClient) -> None:
        user = register(client)
        name = "É" * 60  # 60 characters, 123 octets with "FN:"
        notes = ("Ünïcödé 🙂 text, with; escapes\\ " * 40).strip()
        create_contact(client, user, full_name=name, organization="ü" * 200, notes=notes)
        for version in ("4.0", "3.0"):
            r = export(client, user, vcard_version=version)
            lines = r.content.split(b"\r\n")
            assert any(line.startswith(b" ") for line in lines)
            assert max(len(line) for line in lines) == 75
            (card,) = cards(r)  # every line at most 75 octets and valid UTF-8 on its own
            assert card.fn.value == name
            assert card.org.value == ["ü" * 200]
            assert card.note.value == notes

    def test_control_characters_a_vcard_cannot_carry_are_dropped(self, client: TestClient) -> None:
        user = register(client)
        create_contact(client, user, full_name="Bell", notes="ring\x07 the\x1b bell\u2028twice")
        (card,) = cards(export(client, user))
        assert card.note.value == "ring the bell\ntwice"


class TestCsv:
    def test_carries_every_field_in_googles_columns(self, client: TestClient) -> None:
        user = register(client)
        create_contact(client, user, **EVERY_FIELD)
        r = export(client, user, format="csv")
        assert r.headers["content-type"] == CSV_TYPE
        assert r.headers["content-disposition"] == 'attachment; filename="infoview-contacts.csv"'
        assert r.headers["cache-control"] == "no-store"
        assert r.content.startswith(BOM.encode() + b"First Name,Middle Name,Last Name,")
        assert r.content.count(b"\r\n") == 2 and b"\n" not in r.content.replace(b"\r\n", b"")

        (row,) = csv_rows(r)
        assert row == {
            "First Name": "Ada",
            "Middle Name": "Augusta King",
            "Last Name": "Lovelace",
            "Organization Name": "Analytical Engines, Ltd",
            "Organization Title": "Analyst; poet",
            "Notes": "Met at the meetup.",
            "Labels": "mentor ::: alumni",
            "E-mail 1 - Label": "Other",
            "E-mail 1 - Value": "ada@example.com",
            "Phone 1 - Label": "Other",
            "Phone 1 - Value": "+44 20 7946 0000",
            "Website 1 - Label": "Profile",
            "Website 1 - Value": "https://example.com/ada",
            "Custom Field 1 - Label": "Career field",
            "Custom Field 1 - Value": "computing",
            "Custom Field 2 - Label": "Keep in touch every (days)",
            "Custom Field 2 - Value": "90",
        }

    def test_a_bare_contact_leaves_the_other_columns_empty(self, client: TestClient) -> None:
        user = register(client)
        create_contact(client, user, full_name="Cher")
        (row,) = csv_rows(export(client, user, format="csv"))
        assert row["First Name"] == "Cher"
        assert {value for column, value in row.items() if column != "First Name"} == {""}

    def test_non_ascii_and_special_characters_come_back_as_written(
        self, client: TestClient
    ) -> None:
        user = register(client)
        notes = 'Commas, semicolons; "quotes"\nnew lines\r\nand \\ backslashes'
        create_contact(
            client,
            user,
            full_name="Zoë Ångström-Łukasiewicz",
            organization="Société Générale, SA",
            notes=notes,
            tags=["mentor, senior", "李"],
        )
        (row,) = csv_rows(export(client, user, format="csv"))
        assert (row["First Name"], row["Last Name"]) == ("Zoë", "Ångström-Łukasiewicz")
        assert row["Organization Name"] == "Société Générale, SA"
        assert row["Notes"] == notes
        assert row["Labels"] == "mentor, senior ::: 李"

    def test_cells_a_spreadsheet_would_run_start_with_a_quote(self, client: TestClient) -> None:
        user = register(client)
        create_contact(
            client,
            user,
            full_name='=HYPERLINK("https://evil.example","click")',
            organization="+cmd|' /C calc'!A0",
            title="-2+3",
            notes="@SUM(A1:A9)",
            tags=["=1+1", "safe"],
            career_field="=evil",
            phone="=1+2",
        )
        create_contact(client, user, full_name="Plain Phone", phone="+1 (555) 010-0199")
        create_contact(client, user, full_name="Negative", phone="-5", title="Head - Sales")
        found = csv_rows(export(client, user, format="csv"))
        rows = {row["Last Name"] or row["First Name"]: row for row in found}
        evil = rows['\'=HYPERLINK("https://evil.example","click")']
        assert evil["First Name"] == '\'=HYPERLINK("https://evil.example","click")'
        assert evil["Organization Name"] == "'+cmd|' /C calc'!A0"
        assert evil["Organization Title"] == "'-2+3"
        assert evil["Notes"] == "'@SUM(A1:A9)"
        assert evil["Labels"] == "'=1+1 ::: safe"
        assert evil["Custom Field 1 - Value"] == "'=evil"
        assert evil["Phone 1 - Value"] == "'=1+2"
        # A phone number made only of digits and separators cannot run: it stays whole.
        assert rows["Phone"]["Phone 1 - Value"] == "+1 (555) 010-0199"
        assert rows["Negative"]["Phone 1 - Value"] == "-5"
        assert rows["Negative"]["Organization Title"] == "Head - Sales"
        # The vCard is not a spreadsheet: it says what was typed.
        names = by_name(cards(export(client, user)))
        assert names['=HYPERLINK("https://evil.example","click")'].title.value == "-2+3"


class TestWhatIsExported:
    @pytest.mark.parametrize(
        "params", [{}, {"vcard_version": "3.0"}, {"format": "csv"}], ids=["4.0", "3.0", "csv"]
    )
    def test_never_another_users_contacts(self, client: TestClient, params: dict[str, str]) -> None:
        alice, bob = register(client), register(client)
        create_contact(client, alice, full_name="Alice Secret", notes="alice-marker")
        create_contact(client, bob, full_name="Bob Own", notes="bob-marker")
        text = unfolded(export(client, bob, **params))
        assert "bob-marker" in text and "Own" in text
        assert "alice-marker" not in text and "Secret" not in text

    def test_archived_contacts_only_when_asked(self, client: TestClient) -> None:
        user = register(client)
        create_contact(client, user, full_name="Active One")
        create_contact(client, user, full_name="Archived One", archived=True)
        assert set(by_name(cards(export(client, user)))) == {"Active One"}
        both = {"Active One", "Archived One"}
        assert set(by_name(cards(export(client, user, include_archived="true")))) == both
        rows = csv_rows(export(client, user, format="csv"))
        assert [row["First Name"] for row in rows] == ["Active"]
        rows = csv_rows(export(client, user, format="csv", include_archived="true"))
        assert sorted(row["First Name"] for row in rows) == ["Active", "Archived"]

    def test_an_empty_account_gives_an_empty_file(self, client: TestClient) -> None:
        user = register(client)
        for version in ("4.0", "3.0"):
            r = export(client, user, vcard_version=version)
            assert r.content == b""
            assert r.headers["content-type"] == VCARD_TYPE
        r = export(client, user, format="csv")
        assert r.content == (BOM + ",".join(CSV_HEADER) + "\r\n").encode()
        assert csv_rows(r) == []
        # Only archived contacts: just as empty.
        create_contact(client, user, full_name="Gone", archived=True)
        assert export(client, user).content == b""

    def test_every_contact_once_across_pages_newest_first(
        self, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(exporting, "PAGE_SIZE", 2)
        user = register(client)
        made = [create_contact(client, user, full_name=f"Person {i}") for i in range(5)]
        create_contact(client, user, full_name="Archived Person", archived=True)
        newest_first = [c["full_name"] for c in reversed(made)]
        assert [card.fn.value for card in cards(export(client, user))] == newest_first
        rows = csv_rows(export(client, user, format="csv"))
        assert [f"{row['First Name']} {row['Last Name']}" for row in rows] == newest_first
        everything = cards(export(client, user, include_archived="true"))
        assert len(everything) == 6
        assert len({card.uid.value for card in everything}) == 6


class TestTheRoute:
    def test_is_not_taken_by_the_contact_id_route(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user, full_name="Ada")
        assert export(client, user).headers["content-type"] == VCARD_TYPE
        r = client.get(f"/api/v1/contacts/{contact['id']}", headers=user.headers)
        assert r.status_code == 200 and r.json()["full_name"] == "Ada"

    def test_other_methods_are_405(self, client: TestClient) -> None:
        user = register(client)
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            r = client.request(method, EXPORT, headers=user.headers, json={})
            assert_problem(r, 405, "method_not_allowed")
            assert r.headers["allow"] == "GET"

    def test_needs_a_token(self, client: TestClient) -> None:
        r = client.get(EXPORT)
        assert_problem(r, 401)
        assert r.headers["www-authenticate"].startswith("Bearer")
        r = client.get(EXPORT, headers={"Authorization": "Bearer not-a-token"})
        assert_problem(r, 401)

    def test_an_ended_session_is_refused(self, client: TestClient) -> None:
        user = register(client)
        create_contact(client, user, full_name="Ada")
        r = client.post("/api/v1/auth/logout", json={"refresh_token": user.refresh_token})
        assert r.status_code == 204, r.text
        for params in ({}, {"format": "csv"}):
            r = client.get(EXPORT, params=params, headers=user.headers)
            assert_problem(r, 401, "invalid_token")

    def test_a_personal_access_token_needs_contacts_read(self, client: TestClient) -> None:
        user = register(client)
        create_contact(client, user, full_name="Ada")
        reader = create_token(client, user, ["contacts:read"])["token"]
        r = client.get(EXPORT, headers=bearer(reader))
        assert r.status_code == 200, r.text
        assert [card.fn.value for card in cards(r)] == ["Ada"]
        other = create_token(client, user, ["interviews:read"])["token"]
        assert_problem(client.get(EXPORT, headers=bearer(other)), 403, "insufficient_scope")

    def test_bad_parameters_are_a_422(self, client: TestClient) -> None:
        user = register(client)
        for params in (
            {"format": "pdf"},
            {"vcard_version": "2.1"},
            {"include_archived": "perhaps"},
        ):
            r = client.get(EXPORT, params=params, headers=user.headers)
            assert_problem(r, 422, "validation_error")


class TestPieces:
    """The parts that need no database."""

    @pytest.mark.parametrize(
        ("phone", "uri"),
        [
            ("+44 20 7946 0000", "tel:+44-20-7946-0000"),
            ("+44 (0)20 7946 0000", "tel:+44-20-7946-0000"),
            ("+1 (555) 010-0199 ext. 12", "tel:+1-555-010-0199;ext=12"),
            ("+1.555.010.0199 x7", "tel:+1-555-010-0199;ext=7"),
            ("+33 1 23 45 67 89#3", "tel:+33-1-23-45-67-89;ext=3"),
            ("555-0100", None),
            ("+", None),
            ("+44 call me", None),
        ],
    )
    def test_tel_uri(self, phone: str, uri: str | None) -> None:
        assert tel_uri(phone) == uri

    def test_split_name(self) -> None:
        assert split_name("Ada Lovelace") == ("Ada", "", "Lovelace")
        assert split_name("  Mary  Jane   Watson ") == ("Mary", "Jane", "Watson")
        assert split_name("Cher") == ("Cher", "", "")

    def test_fold_cuts_at_75_octets_between_characters(self) -> None:
        assert fold("x" * 75) == "x" * 75 + "\r\n"
        assert fold("x" * 76) == "x" * 75 + "\r\n x\r\n"
        folded = fold("NOTE:" + "🙂" * 40).encode()
        lines = folded.split(b"\r\n")[:-1]
        assert [len(line) for line in lines] == [73, 73, 21]  # 5 + 17 * 4, 1 + 18 * 4, 1 + 5 * 4
        assert b"".join(line.removeprefix(b" ") for line in lines).decode() == "NOTE:" + "🙂" * 40

    def test_the_4_0_uid_is_a_urn(self) -> None:
        contact_id = uuid.uuid4()
        row = {
            "id": contact_id,
            "full_name": "Ada",
            "updated_at": datetime(2026, 11, 25, 19, 21, 16, tzinfo=UTC),
            **dict.fromkeys(
                ("email", "phone", "organization", "title", "profile_url", "notes"), None
            ),
            "tags": [],
            "career_field": None,
            "keep_in_touch_days": None,
        }
        card = exporting.vcard(row, VCardVersion.V4)
        assert f"\r\nUID:urn:uuid:{contact_id}\r\n" in card
        assert "\r\nREV:20261125T192116Z\r\n" in card
