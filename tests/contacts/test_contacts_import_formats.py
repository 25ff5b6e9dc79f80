"""Contacts from the files people really have: each sample export imported end to end.

``tests/data/contacts/`` holds one faithful sample per source (LinkedIn, Google Contacts in both
generations, Outlook desktop and Outlook.com, Excel's semicolon and "Unicode Text" saves, UTF-16
without a byte-order mark, vCards from iCloud, Google, Android 2.1 and vCard 4.0, another
tool's CSV, and two people sharing one address), each beside a ``.expected.json`` saying what a
person reading the file sees in it. Every sample is imported through HTTP on SQLite and on
PostgreSQL, sent the ways clients send files, and every field of every contact is checked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.contacts.test_contacts_import import by_name, contacts, imported, post_import
from tests.factories import User, assert_problem, register

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "contacts"
# What each tool's file is reported as (Outlook.com and desktop share one reader).
FORMATS = {"outlook_com": "outlook", None: "mapped"}
ENCODINGS = {"utf-8-sig": "utf-8"}
MAPPING = [
    "full_name:Contact Name",
    "email:Work Email",
    "organization:Company Name",
    "title:Role",
    "profile_url:LinkedIn",
    "phone:Mobile",
    "tags:Segment",
]
FIELDS = ("full_name", "email", "phone", "organization", "title", "profile_url")


def _samples() -> list[str]:
    return sorted(p.name for p in SAMPLES.iterdir() if p.suffix in (".csv", ".vcf", ".txt"))


def _expected(name: str) -> dict[str, Any]:
    expected: dict[str, Any] = json.loads((SAMPLES / f"{name}.expected.json").read_text())
    return expected


@pytest.fixture
def user(client: TestClient) -> User:
    return register(client)


def _import_sample(client: TestClient, user: User, name: str, **params: Any) -> dict[str, Any]:
    params.setdefault("mapping", MAPPING if name == "custom_crm.csv" else [])
    return imported(
        client, user, (SAMPLES / name).read_bytes(), content_type="text/plain", **params
    )


@pytest.mark.parametrize("name", _samples())
def test_each_sample_imports_with_every_field_where_it_belongs(
    client: TestClient, user: User, name: str
) -> None:
    expected = _expected(name)
    result = _import_sample(client, user, name)
    tool = expected["source_tool"]
    assert result["format"] == FORMATS.get(tool, tool)
    assert result["encoding"] == ENCODINGS.get(expected["encoding"], expected["encoding"])
    assert result["delimiter"] == expected["delimiter"]
    assert (result["error_count"], result["skipped"]) == (0, 0), result["errors"]
    wanted = expected["contacts"]
    assert result["created"] + result["updated"] == len(wanted)
    people = contacts(client, user)
    assert len(people) == len(wanted)
    found = {(p["full_name"], p["email"]): p for p in people}
    for person in wanted:
        contact = found[(person["full_name"], person["email"])]
        for field in FIELDS:
            assert contact[field] == person[field], (name, field, contact)
        assert contact["tags"] == person["tags"], (name, contact)
        # Further addresses and numbers are kept in the notes, never lost silently.
        for extra in person.get("extra_emails", []):
            assert f"Other email: {extra}" in (contact["notes"] or ""), (name, contact)
        for extra in person.get("extra_phones", []):
            assert f"Other phone: {extra}" in (contact["notes"] or ""), (name, contact)
    # Nothing merged: a second import of the same file changes nothing.
    again = _import_sample(client, user, name)
    assert (again["created"], again["updated"]) == (0, 0)
    assert again["unchanged"] == len(wanted)


def test_a_file_not_in_utf8_is_read_as_windows_1252_with_a_warning(
    client: TestClient, user: User
) -> None:
    result = _import_sample(client, user, "outlook_desktop.csv")
    [warning] = [w for w in result["warnings"] if w["line"] is None]
    assert "Windows-1252" in warning["message"]
    assert "charset" in warning["message"]


def test_linkedin_rows_are_matched_again_by_their_profile_url(
    client: TestClient, user: User
) -> None:
    _import_sample(client, user, "linkedin_connections.csv")
    people = contacts(client, user)
    assert all(p["source"] == "linkedin" and p["external_id"] == p["profile_url"] for p in people)
    assert all("Connected on LinkedIn:" in (p["notes"] or "") for p in people)


def test_two_people_sharing_one_email_stay_two_and_the_second_is_flagged(
    client: TestClient, user: User
) -> None:
    result = _import_sample(client, user, "shared_email.csv")
    assert (result["created"], result["flagged"]) == (3, 1)
    flagged = [r for r in result["rows"] if r["possible_duplicate_of"]]
    [row] = flagged
    first = next(r for r in result["rows"] if r["contact_id"] == row["possible_duplicate_of"])
    assert first["full_name"] != row["full_name"]


@pytest.mark.parametrize("name", ["google_contacts.csv", "android_21.vcf"])
def test_a_multipart_upload_imports_like_the_raw_body(
    client: TestClient, user: User, name: str
) -> None:
    content = (SAMPLES / name).read_bytes()
    r = client.post(
        "/api/v1/contacts/import",
        files={"file": (name, content, "application/octet-stream")},
        params={"dry_run": "true"},
        headers=user.headers,
    )
    assert r.status_code == 200, r.text
    raw = _import_sample(client, user, name, dry_run=True)
    assert {k: v for k, v in r.json().items() if k != "rows"} == {
        k: v for k, v in raw.items() if k != "rows"
    }
    r = client.post(
        "/api/v1/contacts/import", files={"other": (name, content)}, headers=user.headers
    )
    assert_problem(r, 422, "missing_file")


@pytest.mark.parametrize(
    "content_type",
    ["text/csv", "application/vnd.ms-excel", "text/plain", "application/octet-stream"],
)
def test_the_content_types_browsers_give_csv_files_are_accepted(
    client: TestClient, user: User, content_type: str
) -> None:
    result = imported(client, user, "full_name\nAda\n", content_type=content_type)
    assert result["created"] == 1


def test_a_charset_the_client_names_wins_over_sniffing(client: TestClient, user: User) -> None:
    body = "full_name\nRenée\n".encode("latin-1")
    result = imported(client, user, body, content_type="text/csv; charset=iso-8859-1")
    assert result["warnings"] == []
    assert result["encoding"] == "latin-1"
    assert set(by_name(client, user)) == {"Renée"}


def test_a_named_format_that_does_not_fit_the_file_is_refused(
    client: TestClient, user: User
) -> None:
    body = (SAMPLES / "google_contacts.csv").read_bytes()
    r = post_import(client, user, body, format="linkedin")
    problem = assert_problem(r, 422, "unrecognised_header")
    assert "LinkedIn" in problem["detail"]


def test_another_tools_csv_without_a_mapping_says_how_to_map_it(
    client: TestClient, user: User
) -> None:
    r = post_import(client, user, (SAMPLES / "custom_crm.csv").read_bytes())
    problem = assert_problem(r, 422, "unrecognised_header")
    assert "mapping" in problem["detail"] and "'Contact Name'" in problem["detail"]
    for mapping, message in (
        (["full_name"], "field:Header"),
        (["nickname:Contact Name"], "not a contact field"),
        (["email:Work Email"], "gives no name"),
        (["full_name:Contact Name", "full_name:Role"], "mapped twice"),
    ):
        r = post_import(client, user, b"x", mapping=mapping)
        assert message in assert_problem(r, 422, "invalid_mapping")["detail"]
    r = post_import(
        client, user, (SAMPLES / "custom_crm.csv").read_bytes(), mapping=["full_name:Nom"]
    )
    assert "'Nom'" in assert_problem(r, 422, "unknown_column")["detail"]
    assert contacts(client, user) == []


def test_a_nul_character_in_a_file_is_refused_with_its_line(client: TestClient, user: User) -> None:
    r = post_import(client, user, b"full_name\nAda\nB\x00o\n")
    problem = assert_problem(r, 422, "nul_character")
    assert problem["errors"] == [{"line": 3, "message": "the line holds a NUL character"}]
    assert contacts(client, user) == []


# --- export, then import: the same contacts -----------------------------------------------------

PEOPLE = (
    {
        "full_name": "Zoë Müller-Lüdenscheidt",
        "email": "zoe@tum.example.com",
        "phone": "+49 89 5550 1234",
        "organization": "Technische Universität, München",
        "title": "Professorin; Lehrstuhl für Robotik",
        "career_field": "robotics",
        "profile_url": "https://example.com/zoe?tab=1,2",
        "notes": "Met at the fair,\nsaid: call me; back\\slash " + "long " * 40 + "end.",
        "tags": ["mentor", "alumni"],
        "keep_in_touch_days": 90,
    },
    {"full_name": "Ada"},
    {
        "full_name": "Bo van der Chen",
        "email": "bo@example.org",
        "title": "-lead of =things",
        "notes": "=SUM(A1) and @mentions",
        "tags": ["+plus"],
    },
)
COMPARED = (*FIELDS, "career_field", "notes", "tags", "keep_in_touch_days")


def _same(person: dict[str, Any], phone_separators: bool = True) -> dict[str, Any]:
    values = {field: person.get(field) for field in COMPARED}
    values["tags"] = person.get("tags") or []
    if values["phone"] and not phone_separators:  # a tel: URI keeps digits, not spaces
        values["phone"] = "".join(ch for ch in values["phone"] if ch.isdigit() or ch == "+")
    return values


@pytest.mark.parametrize(
    "params",
    [
        {"format": "vcard", "vcard_version": "4.0"},
        {"format": "vcard", "vcard_version": "3.0"},
        {"format": "csv"},
    ],
    ids=["vcard4", "vcard3", "google-csv"],
)
def test_an_export_imported_into_a_fresh_account_gives_the_same_contacts(
    client: TestClient, user: User, params: dict[str, str]
) -> None:
    for person in PEOPLE:
        r = client.post("/api/v1/contacts", json=person, headers=user.headers)
        assert r.status_code == 201, r.text
    r = client.get("/api/v1/contacts/export", params=params, headers=user.headers)
    assert r.status_code == 200, r.text
    fresh = register(client)
    result = imported(client, fresh, r.content, content_type=r.headers["content-type"])
    assert (result["created"], result["error_count"], result["warning_count"]) == (3, 0, 0)
    assert result["format"] == ("vcard" if params["format"] == "vcard" else "google")
    keep_separators = params.get("vcard_version") != "4.0"
    want = sorted((_same(p, keep_separators) for p in PEOPLE), key=lambda p: p["full_name"])
    got = sorted(
        (_same(c, keep_separators) for c in contacts(client, fresh)),
        key=lambda p: p["full_name"],
    )
    for mine, theirs in zip(got, want, strict=True):
        for field in COMPARED:
            assert mine[field] == theirs[field], (params, field)


def test_a_phone_export_full_of_photos_over_a_mebibyte_imports_without_them(
    client: TestClient, user: User
) -> None:
    photo = "/9j/" + "A" * 10_000  # folded as phones write it
    folded = "\r\n ".join(photo[i : i + 74] for i in range(0, len(photo), 74))
    cards = "".join(
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Person {i}\r\nEMAIL:p{i}@example.com\r\n"
        f"PHOTO;ENCODING=b;TYPE=JPEG:{folded}\r\nEND:VCARD\r\n"
        for i in range(200)
    )
    assert len(cards) > 2 * 1024 * 1024
    r = client.post(
        "/api/v1/contacts/import",
        files={"file": ("iCloud Export.vcf", cards.encode(), "text/vcard")},
        headers=user.headers,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["warning_count"]) == (200, 0)
    assert all(not (c["notes"] or "") for c in contacts(client, user))
