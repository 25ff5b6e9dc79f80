"""Values that pass the gate but would break what is built from them, and pages that call out.

Each test sends what an attacker (or a careless integration) would and asserts the answer: a
4xx problem, never a 500, and nothing written.

- Every date-time a request carries is one type, ``Timestamp`` (``app/kit/schemas.py``): RFC
  3339 with an offset, between 1900 and 2200 in UTC. ``0001-01-01T00:00:00+14:00`` parses, but
  is before year 1 in UTC: anything that far out is a 422 ``datetime_out_of_range`` before it is
  converted, stored or moved by the agenda's days.
- The calendar feed is valid iCalendar whatever users typed: line breaks are escaped, other
  control characters left out, and ``URL`` written only for a location that is one whole URL.
  A contact's profile URL with a line break or any control character is a 422.
- The documentation pages load their scripts, styles and icon from the server itself, and
  their CSP names no other host.
- An account import of a hundred thousand bad records costs a problem's worth of checking:
  its records are checked one by one, in a worker thread, until more errors are found than a
  problem lists; ``/healthz`` stays prompt while megabyte imports arrive.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar
from pydantic import TypeAdapter

from app.kit.db import utcnow
from app.kit.problems import MAX_PROBLEM_ERRORS
from app.kit.schemas import Timestamp
from tests.factories import PASSWORD, User, assert_problem, register
from tests.factories_interviews import create_contact, create_interview
from tests.live_server import live_server

INTERVIEWS = "/api/v1/interviews"
CONTACTS = "/api/v1/contacts"
FEED = "/api/v1/calendar.ics"
ACCOUNT_IMPORT = "/api/v1/import"
# Far out in every direction, with the offsets that push a parsable value past year 1 or 9999.
FAR_OFF = (
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-14:00",
    "1000-06-15T12:00:00Z",
    "3000-01-01T00:00:00Z",
    # Just outside, once converted to UTC.
    "1899-12-31T23:59:59.999999Z",
    "1900-01-01T00:59:59+01:00",
    "2201-01-01T00:00:00Z",
    "2200-12-31T23:59:59-00:01",
)
EDGES = (
    "1900-01-01T00:00:00Z",
    "1900-01-01T01:00:00+01:00",
    "2200-12-31T23:59:59Z",
    "2200-12-31T23:59:59.999999Z",
    "2200-12-31T10:00:00-13:59",
)


@pytest.fixture
def user(client: TestClient) -> User:
    return register(client)


def account_document(**records: list[dict[str, Any]]) -> dict[str, Any]:
    """An export document holding ``records`` (contacts=[…], interviews=[…] …)."""
    return {
        "format": "infoview-export",
        "version": 1,
        "exported_at": "2026-01-01T00:00:00Z",
        "user": {"email": "ada@example.com"},
        **records,
    }


def out_of_range(response: Any, loc: list[str | int]) -> None:
    problem = assert_problem(response, 422, "validation_error")
    assert problem["errors"][0]["type"] == "datetime_out_of_range", problem
    assert problem["errors"][0]["loc"] == loc, problem
    assert "1900-01-01T00:00:00Z" in problem["errors"][0]["msg"]


def request_datetimes(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every ``date-time`` schema a request can carry: parameters and bodies, $refs followed."""
    components = document["components"]["schemas"]
    found: list[tuple[str, dict[str, Any]]] = []

    def walk(schema: Any, where: str, seen: frozenset[str]) -> None:
        if not isinstance(schema, dict):
            return
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            if name not in seen:
                walk(components[name], where, seen | {name})
            return
        if schema.get("format") == "date-time":
            found.append((where, schema))
        for name, child in schema.get("properties", {}).items():
            walk(child, f"{where}.{name}", seen)
        for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            for child in schema.get(key, []):
                walk(child, where, seen)
        for key in ("items", "additionalProperties"):
            walk(schema.get(key), f"{where}[]", seen)

    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                walk(
                    parameter["schema"],
                    f"{operation['operationId']}?{parameter['name']}",
                    frozenset(),
                )
            for content in operation.get("requestBody", {}).get("content", {}).values():
                walk(content["schema"], f"{operation['operationId']} body", frozenset())
    return found


class TestFarOffDatetimes:
    def test_every_datetime_a_request_carries_is_the_bounded_type(self, client: TestClient) -> None:
        described = TypeAdapter(Timestamp).json_schema()["description"]
        found = request_datetimes(client.get("/openapi.json").json())
        assert len(found) >= 8, found  # interviews (5), transitions, the agenda, tokens
        assert any(where.startswith("import-account body") for where, _ in found)
        assert [where for where, schema in found if schema.get("description") != described] == []

    def test_far_off_instants_are_a_422_wherever_a_request_carries_one(
        self, client: TestClient, user: User
    ) -> None:
        contact = create_contact(client, user)
        interview = create_interview(client, user, contact_id=contact["id"])
        path = f"{INTERVIEWS}/{interview['id']}"
        for value in FAR_OFF:
            r = client.post(
                INTERVIEWS,
                json={"contact_id": contact["id"], "scheduled_at": value},
                headers=user.headers,
            )
            out_of_range(r, ["body", "scheduled_at"])
            r = client.patch(path, json={"scheduled_at": value}, headers=user.headers)
            out_of_range(r, ["body", "scheduled_at"])
            r = client.post(
                f"{path}/transitions", json={"to": "held", "held_at": value}, headers=user.headers
            )
            out_of_range(r, ["body", "held_at"])
            for name in ("scheduled_after", "scheduled_before", "updated_since"):
                r = client.get(INTERVIEWS, params={name: value}, headers=user.headers)
                out_of_range(r, ["query", name])
            r = client.get("/api/v1/agenda", params={"due_before": value}, headers=user.headers)
            out_of_range(r, ["query", "due_before"])
            r = client.post(
                "/api/v1/tokens",
                json={"name": "far", "scopes": ["contacts:read"], "expires_at": value},
                headers=user.headers,
            )
            out_of_range(r, ["body", "expires_at"])
        # Nothing was written.
        listed = client.get(INTERVIEWS, headers=user.headers).json()["data"]
        assert [(i["id"], i["scheduled_at"], i["state"]) for i in listed] == [
            (interview["id"], None, "request")
        ]
        assert client.get("/api/v1/tokens", headers=user.headers).json()["data"] == []

    def test_far_off_instants_in_an_imported_document_are_a_422(
        self, client: TestClient, user: User
    ) -> None:
        for value in FAR_OFF:
            contact = {
                "id": str(uuid.uuid4()),
                "full_name": "Ada",
                "created_at": "2026-01-01T00:00:00Z",
                "updated_at": value,
            }
            document = account_document(contacts=[contact])
            r = client.post(ACCOUNT_IMPORT, json=document, headers=user.headers)
            out_of_range(r, ["body", "contacts", 0, "updated_at"])
            r = client.post(
                ACCOUNT_IMPORT, json={**document, "exported_at": value}, headers=user.headers
            )
            out_of_range(r, ["body", "exported_at"])
        assert client.get(CONTACTS, headers=user.headers).json()["data"] == []

    def test_the_edges_are_accepted_and_answered_in_utc(
        self, client: TestClient, user: User
    ) -> None:
        contact = create_contact(client, user)
        for value in EDGES:
            instant = datetime.fromisoformat(value).astimezone(UTC)
            created = create_interview(client, user, contact_id=contact["id"], scheduled_at=value)
            assert datetime.fromisoformat(created["scheduled_at"]) == instant
            assert created["scheduled_at"].endswith("Z")
            for name in ("scheduled_after", "scheduled_before", "updated_since"):
                r = client.get(INTERVIEWS, params={name: value}, headers=user.headers)
                assert r.status_code == 200, r.text
            r = client.get("/api/v1/agenda", params={"due_before": value}, headers=user.headers)
            assert r.status_code == 200, r.text
        r = client.get(
            INTERVIEWS,
            params={"scheduled_after": EDGES[0]},
            headers=user.headers,
        )
        assert len(r.json()["data"]) == len(EDGES)
        # The interviews at the far edges are still in the agenda and the feed's reach.
        r = client.get("/api/v1/agenda", params={"due_before": EDGES[3]}, headers=user.headers)
        assert r.status_code == 200, r.text
        token = client.post("/api/v1/calendar/token", headers=user.headers).json()["token"]
        assert client.get(FEED, params={"token": token}).status_code == 200


# --- the calendar feed ----------------------------------------------------------------------

# What RFC 5545 allows in a content line besides text: HTAB, and CR LF ending each line.
_RAW_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def fetch_feed(client: TestClient, user: User) -> tuple[bytes, Calendar]:
    token = client.post("/api/v1/calendar/token", headers=user.headers).json()["token"]
    r = client.get(FEED, params={"token": token})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/calendar")
    return r.content, Calendar.from_ical(r.content)


class TestCalendarFeedText:
    def test_line_breaks_and_control_characters_never_break_the_feed(
        self, client: TestClient, user: User
    ) -> None:
        start = (utcnow() + timedelta(days=2)).replace(second=0, microsecond=0)
        contact = create_contact(
            client, user, full_name="Ada\x1b[31m Lovelace\x0b", title="\x85CTO"
        )
        hostile = {
            "https://meet.example/x\r\nATTENDEE:mailto:evil@example.com": (
                "https://meet.example/x\nATTENDEE:mailto:evil@example.com"
            ),
            "Room 1\rBuilding\x0c2\x1b[0m": "Room 1\nBuilding2[0m",
            "https://meet.example/ok\x1b": "https://meet.example/ok",
            "https://meet.example/a b": "https://meet.example/a b",
        }
        ids = {}
        for index, location in enumerate(hostile):
            created = create_interview(
                client,
                user,
                contact_id=contact["id"],
                scheduled_at=(start + timedelta(hours=index)).isoformat(),
                location=location,
                notes="first line\r\nsecond\x07 line\x7f",
                organization="Acme\x1b;\x0c Inc",
            )
            ids[created["id"]] = hostile[location]
        raw, calendar = fetch_feed(client, user)
        text = raw.decode()
        assert _RAW_CONTROL.search(text.replace("\r\n", "")) is None
        events = {str(e["uid"]).split("@")[0]: e for e in calendar.walk("VEVENT")}
        for interview_id, location in ids.items():
            event = events[interview_id]
            assert str(event["location"]) == location
            assert "url" not in event  # no location above is one whole URL
            assert "attendee" not in event
            assert str(event["summary"]) == (
                "Informational interview with Ada[31m Lovelace (Acme; Inc)"
            )
            description = str(event["description"])
            assert "first line\nsecond line" in description
            assert "CTO" in description and "\x85" not in description
        # The edits that used to 500 the feed until undone are plain edits now.
        one = next(iter(ids))
        r = client.patch(
            f"{INTERVIEWS}/{one}", json={"location": "https://meet.example/x"}, headers=user.headers
        )
        assert r.status_code == 200, r.text
        _, calendar = fetch_feed(client, user)
        event = {str(e["uid"]).split("@")[0]: e for e in calendar.walk("VEVENT")}[one]
        assert str(event["url"]) == "https://meet.example/x"

    def test_a_profile_url_with_a_line_break_or_control_character_is_a_422(
        self, client: TestClient, user: User
    ) -> None:
        contact = create_contact(client, user, profile_url="https://example.com/in/ada")
        for url in (
            "https://example.com/in/ada\r\nX-Injected: 1",
            "https://example.com/in/\nada",
            "https://example.com/in/\tada",
            "https://example.com/in/ada\x1b[31m",
            "https://example.com/in/ada\x7f",
            "https://example.com/in/ada\x85",
        ):
            r = client.post(
                CONTACTS, json={"full_name": "Ada", "profile_url": url}, headers=user.headers
            )
            problem = assert_problem(r, 422, "validation_error")
            assert problem["errors"][0]["loc"] == ["body", "profile_url"], problem
            assert "control character" in problem["errors"][0]["msg"]
            r = client.patch(
                f"{CONTACTS}/{contact['id']}", json={"profile_url": url}, headers=user.headers
            )
            assert_problem(r, 422, "validation_error")
        listed = client.get(CONTACTS, headers=user.headers).json()["data"]
        assert [c["profile_url"] for c in listed] == ["https://example.com/in/ada"]


# --- the documentation pages ----------------------------------------------------------------

_REFERENCES = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")
_CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


class TestDocumentationPages:
    def test_they_load_everything_from_the_server_itself(self, client: TestClient) -> None:
        assets = set()
        for page in ("/docs", "/redoc"):
            r = client.get(page)
            assert r.status_code == 200, page
            assert r.headers["content-type"].startswith("text/html")
            assert not re.search(r"https?:|//", r.text.replace("</", "").replace("<!--", "")), page
            references = {a or b for a, b in _REFERENCES.findall(r.text)}
            assert references, page
            for reference in references:
                assert reference.startswith("/") and not reference.startswith("//"), reference
            assets |= {ref for ref in references if ref.startswith("/docs/assets/")}
            policy = r.headers["content-security-policy"]
            sources = {token for part in policy.split(";") for token in part.split()[1:]}
            # Keywords, hashes and the data:/blob: schemes; no host.
            assert all(token.startswith("'") or token in ("data:", "blob:") for token in sources), (
                policy
            )
        assert {a.rsplit("/", 1)[1] for a in assets} >= {
            "swagger-ui-bundle.js",
            "swagger-ui.css",
            "redoc.standalone.js",
            "favicon.png",
        }
        for asset in sorted(assets):
            r = client.get(asset)
            assert r.status_code == 200, asset
            expected = _CONTENT_TYPES[asset[asset.rindex(".") :]]
            assert r.headers["content-type"].split(";")[0] == expected, asset
            assert r.headers["x-content-type-options"] == "nosniff"
            assert len(r.content) > 1000, asset

    def test_nothing_else_is_served_from_there(self, client: TestClient) -> None:
        for path in (
            "/docs/assets/core.py",
            "/docs/assets/../core.py",
            "/docs/assets/%2e%2e/core.py",
            "/docs/assets/",
        ):
            r = client.get(path)
            assert r.status_code == 404, path
            assert r.headers["content-type"].startswith("application/problem+json")


# --- the account import ---------------------------------------------------------------------


def import_body(**records: list[dict[str, Any]]) -> bytes:
    return json.dumps(account_document(**records), separators=(",", ":")).encode()


def valid_contacts(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": str(uuid.uuid4()),
            "full_name": f"Contact {index}",
            "email": f"contact-{index}@example.com",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }
        for index in range(count)
    ]


def post_import(client: TestClient, user: User, body: bytes) -> tuple[Any, float]:
    started = time.perf_counter()
    r = client.post(
        ACCOUNT_IMPORT, content=body, headers={**user.headers, "Content-Type": "application/json"}
    )
    return r, time.perf_counter() - started


class TestAccountImportCost:
    def test_a_bad_list_is_checked_until_a_problems_worth_of_errors(
        self, client: TestClient, user: User
    ) -> None:
        answers = {}
        for count in (1_000, 100_000):  # 400 errors, or 400,000, if all were looked for
            r, elapsed = post_import(client, user, import_body(contacts=[{}] * count))
            problem = assert_problem(r, 422, "validation_error")
            assert len(problem["errors"]) == MAX_PROBLEM_ERRORS
            assert MAX_PROBLEM_ERRORS < problem["error_count"] < 2 * MAX_PROBLEM_ERRORS
            assert problem["errors"][0] == {
                "loc": ["body", "contacts", 0, "id"],
                "msg": "Field required",
                "type": "missing",
            }
            answers[count] = (r.content.replace(problem["request_id"].encode(), b""), elapsed)
        # The same answer, at the same cost, however long the list.
        assert answers[1_000][0] == answers[100_000][0]
        assert answers[100_000][1] < 1.0, answers  # was 6 s and 500 MB

    def test_errors_keep_their_place_behind_valid_records(
        self, client: TestClient, user: User
    ) -> None:
        contacts = valid_contacts(300)
        contacts[250]["email"] = "not an email"
        contacts[299]["id"] = "not a uuid"
        r, _ = post_import(
            client, user, import_body(contacts=contacts, interviews=[{}], letters=[{"x": 1}])
        )
        problem = assert_problem(r, 422, "validation_error")
        places = {tuple(error["loc"][:4]) for error in problem["errors"]}
        assert ("body", "contacts", 250, "email") in places
        assert ("body", "contacts", 299, "id") in places
        assert ("body", "interviews", 0, "id") in places
        assert ("body", "letters", 0, "x") in places
        r, _ = post_import(client, user, import_body(contacts=[{}] * 100_001))
        problem = assert_problem(r, 422, "validation_error")
        assert problem["errors"] == [
            {
                "loc": ["body", "contacts"],
                "msg": "List should have at most 100000 items after validation, not 100001",
                "type": "too_long",
            }
        ]
        # A good document still goes in whole.
        r, _ = post_import(client, user, import_body(contacts=valid_contacts(300)))
        assert r.status_code == 200, r.text
        assert r.json()["contacts"] == 300


@pytest.fixture(scope="module")
def server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``infoview serve`` (one worker, so one event loop) on a fresh SQLite database."""
    path = tmp_path_factory.mktemp("hostile-values") / "hostile.db"
    shutil.copyfile(sqlite_template, path)
    with live_server(f"sqlite:///{path}", workers=1) as url:
        yield url


def test_healthz_stays_prompt_while_megabyte_imports_arrive(server: str) -> None:
    """One worker, one event loop: imports back to back must not hold it."""
    email = f"importer-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=server, timeout=60) as setup:
        assert setup.post(
            "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
        ).is_success
        token = setup.post(
            "/api/v1/auth/token", data={"username": email, "password": PASSWORD}
        ).json()["access_token"]
    # Checked to the last record, which is wrong: the most checking a megabyte can ask for.
    contacts = valid_contacts(5_000)
    contacts[-1]["id"] = "not a uuid"
    bodies = [import_body(contacts=[{}] * 100_000), import_body(contacts=contacts)]
    assert all(len(body) < 1024 * 1024 for body in bodies)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    stop = threading.Event()
    statuses: list[int] = []

    def attack() -> None:
        with httpx.Client(base_url=server, timeout=60) as attacker:
            while not stop.is_set():
                for body in bodies:
                    r = attacker.post(ACCOUNT_IMPORT, content=body, headers=headers)
                    statuses.append(r.status_code)

    thread = threading.Thread(target=attack)
    thread.start()
    latencies = []
    try:
        with httpx.Client(base_url=server, timeout=60) as probe:
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline:
                started = time.perf_counter()
                assert probe.get("/healthz").status_code == 200
                latencies.append(time.perf_counter() - started)
                time.sleep(0.02)
    finally:
        stop.set()
        thread.join(timeout=120)
    assert len(statuses) >= len(bodies), statuses
    assert set(statuses) == {422}, statuses
    assert statistics.median(latencies) < 0.1, latencies
    assert max(latencies) < 1.0, latencies
