"""Times in the reader's zone, over HTTP on both databases.

A user's time zone (GET/PATCH /api/v1/me, at registration) and a contact's; names checked
against the IANA database; then every place a person reads a time: a drafted letter (the
recipient's zone, with the user's own after it), the interview write-up, the agenda's words and
the calendar's all-day items. The expected texts are written out here by hand, not computed
with the app's formatting, and the timestamps on the wire stay UTC.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlalchemy import update
from sqlmodel import Session

from app.interviews.schemas import Interview
from tests.factories import PASSWORD, User, assert_problem, login, register
from tests.factories_contacts import create_contact
from tests.factories_interviews import create_interview

ME = "/api/v1/me"
DRAFT = "/api/v1/letters/draft"
WINTER = "2026-12-09T14:30:00Z"  # a Wednesday; New York on EST, Berlin on CET
SUMMER = "2026-07-14T14:30:00Z"  # a Tuesday; New York on EDT, Berlin on CEST


def set_zone(client: TestClient, user: User, zone: str) -> dict[str, Any]:
    r = client.patch(ME, json={"time_zone": zone}, headers=user.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def user_in(client: TestClient, zone: str) -> User:
    user = register(client)
    set_zone(client, user, zone)
    return user


def move(client: TestClient, interview_id: str, **values: Any) -> None:
    """Put an interview's columns straight into the database (a test shortcut, no guards)."""
    app: Any = client.app
    with Session(app.state.engine) as session:
        session.execute(
            update(Interview)
            .where(Interview.id == uuid.UUID(interview_id))  # type: ignore[arg-type]
            .values(**values)
        )
        session.commit()


def draft_request(client: TestClient, user: User, contact: dict[str, Any], at: str) -> str:
    """The body of a request letter drafted for an interview with ``contact`` at ``at``."""
    interview = create_interview(client, user, contact_id=contact["id"], scheduled_at=at)
    r = client.post(
        DRAFT,
        json={"kind": "request", "recipient_id": contact["id"], "interview_id": interview["id"]},
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    body: str = r.json()["body"]
    return body


# --- the zones themselves -------------------------------------------------------------------


class TestUserZone:
    def test_utc_until_set_then_read_and_changed_on_me(self, client: TestClient) -> None:
        user = register(client)
        assert client.get(ME, headers=user.headers).json()["time_zone"] == "UTC"
        changed = set_zone(client, user, "America/New_York")
        assert changed["time_zone"] == "America/New_York"
        assert changed["id"] == user.id and changed["email"] == user.email
        assert client.get(ME, headers=user.headers).json()["time_zone"] == "America/New_York"

    def test_given_at_registration(self, client: TestClient) -> None:
        email = f"tz-{uuid.uuid4().hex[:10]}@example.com"
        r = client.post(
            "/api/v1/auth/register",
            json={"email": email, "password": PASSWORD, "time_zone": "Pacific/Auckland"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["time_zone"] == "Pacific/Auckland"
        token = login(client, email)["access_token"]
        me = client.get(ME, headers={"Authorization": f"Bearer {token}"}).json()
        assert me["time_zone"] == "Pacific/Auckland"

    def test_stored_as_the_zone_database_spells_it(self, client: TestClient) -> None:
        user = register(client)
        assert set_zone(client, user, "america/new_york")["time_zone"] == "America/New_York"

    def test_a_patch_changes_only_what_it_sends(self, client: TestClient) -> None:
        user = user_in(client, "Europe/Berlin")
        r = client.patch(ME, json={"full_name": "Ada Lovelace"}, headers=user.headers)
        assert r.status_code == 200, r.text
        assert r.json()["full_name"] == "Ada Lovelace"
        assert r.json()["time_zone"] == "Europe/Berlin"

    @pytest.mark.parametrize(
        "zone",
        [
            "Mars/Olympus_Mons",
            "Europe/Berlinn",
            "EST+5",
            "localtime",  # the server's own setting, not a zone
            "Factory",
            "../../etc/passwd",
            "/usr/share/zoneinfo/UTC",
            "Europe/Berlin ",
            "",
            "A" * 65,
            None,
            42,
        ],
    )
    def test_a_name_that_is_no_zone_is_refused(self, client: TestClient, zone: Any) -> None:
        user = user_in(client, "Asia/Tokyo")
        body = assert_problem(client.patch(ME, json={"time_zone": zone}, headers=user.headers), 422)
        assert [e["loc"] for e in body["errors"]] == [["body", "time_zone"]]
        assert client.get(ME, headers=user.headers).json()["time_zone"] == "Asia/Tokyo"

    def test_the_refusal_says_what_a_zone_looks_like(self, client: TestClient) -> None:
        user = register(client)
        body = assert_problem(
            client.patch(ME, json={"time_zone": "Mars/Olympus_Mons"}, headers=user.headers), 422
        )
        (error,) = body["errors"]
        assert error["type"] == "time_zone"
        assert "IANA time zone" in error["msg"] and "Europe/Berlin" in error["msg"]

    def test_unknown_fields_are_refused(self, client: TestClient) -> None:
        user = register(client)
        r = client.patch(ME, json={"timezone": "Europe/Berlin"}, headers=user.headers)
        assert_problem(r, 422)

    def test_a_personal_token_cannot_change_the_account(self, client: TestClient) -> None:
        user = register(client)
        r = client.post(
            "/api/v1/tokens",
            json={"name": "sync", "scopes": ["contacts:read", "contacts:write"]},
            headers=user.headers,
        )
        assert r.status_code == 201, r.text
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        r = client.patch(ME, json={"time_zone": "Europe/Berlin"}, headers=headers)
        assert_problem(r, 403, "insufficient_scope")
        assert client.get(ME, headers=user.headers).json()["time_zone"] == "UTC"


class TestContactZone:
    def test_optional_set_and_cleared(self, client: TestClient) -> None:
        user = register(client)
        unknown = create_contact(client, user, full_name="No Zone")
        assert unknown["time_zone"] is None
        anna = create_contact(client, user, full_name="Anna", time_zone="Europe/Berlin")
        assert anna["time_zone"] == "Europe/Berlin"
        path = f"/api/v1/contacts/{anna['id']}"
        r = client.patch(path, json={"time_zone": "asia/kolkata"}, headers=user.headers)
        assert r.status_code == 200, r.text
        assert r.json()["time_zone"] == "Asia/Kolkata"
        r = client.patch(path, json={"time_zone": None}, headers=user.headers)
        assert r.status_code == 200, r.text
        assert client.get(path, headers=user.headers).json()["time_zone"] is None

    def test_a_bad_name_is_refused(self, client: TestClient) -> None:
        user = register(client)
        r = client.post(
            "/api/v1/contacts",
            json={"full_name": "Anna", "time_zone": "Berlin"},
            headers=user.headers,
        )
        body = assert_problem(r, 422)
        assert [e["loc"] for e in body["errors"]] == [["body", "time_zone"]]
        anna = create_contact(client, user, full_name="Anna", time_zone="Europe/Berlin")
        r = client.patch(
            f"/api/v1/contacts/{anna['id']}", json={"time_zone": "CEST"}, headers=user.headers
        )
        assert_problem(r, 422)

    def test_the_account_export_carries_both_zones(self, client: TestClient) -> None:
        user = user_in(client, "America/New_York")
        create_contact(client, user, full_name="Anna", time_zone="Europe/Berlin")
        r = client.get("/api/v1/export", headers=user.headers)
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["user"]["time_zone"] == "America/New_York"
        assert [c["time_zone"] for c in doc["contacts"]] == ["Europe/Berlin"]


# --- letters ----------------------------------------------------------------------------------


class TestLetters:
    def test_the_recipients_time_first_then_the_users(self, client: TestClient) -> None:
        user = user_in(client, "America/New_York")
        anna = create_contact(client, user, full_name="Anna Weber", time_zone="Europe/Berlin")
        body = draft_request(client, user, anna, WINTER)
        assert "Wednesday 9 December 2026, 3:30 p.m. CET (9:30 a.m. EST my time)" in body
        assert "14:30" not in body and "UTC" not in body

    def test_daylight_saving_time_on_both_sides(self, client: TestClient) -> None:
        user = user_in(client, "America/New_York")
        anna = create_contact(client, user, full_name="Anna Weber", time_zone="Europe/Berlin")
        body = draft_request(client, user, anna, SUMMER)
        assert "Tuesday 14 July 2026, 4:30 p.m. CEST (10:30 a.m. EDT my time)" in body

    def test_the_writers_date_when_it_is_another_day(self, client: TestClient) -> None:
        user = user_in(client, "America/New_York")
        kiri = create_contact(client, user, full_name="Kiri Tane", time_zone="Pacific/Auckland")
        body = draft_request(client, user, kiri, WINTER)
        assert (
            "Thursday 10 December 2026, 3:30 a.m. NZDT "
            "(Wednesday 9 December 2026, 9:30 a.m. EST my time)"
        ) in body

    def test_a_contact_without_a_zone_reads_the_users(self, client: TestClient) -> None:
        user = user_in(client, "America/New_York")
        sam = create_contact(client, user, full_name="Sam Ortiz")
        body = draft_request(client, user, sam, WINTER)
        assert "Wednesday 9 December 2026, 9:30 a.m. EST suit you?" in body
        assert "my time" not in body

    def test_the_same_clock_under_another_name_is_said_once(self, client: TestClient) -> None:
        user = user_in(client, "Europe/Paris")
        anna = create_contact(client, user, full_name="Anna Weber", time_zone="Europe/Berlin")
        body = draft_request(client, user, anna, WINTER)
        assert "Wednesday 9 December 2026, 3:30 p.m. CET suit you?" in body

    def test_a_user_in_utc_reads_utc(self, client: TestClient) -> None:
        user = register(client)
        sam = create_contact(client, user, full_name="Sam Ortiz")
        body = draft_request(client, user, sam, WINTER)
        assert "Wednesday 9 December 2026, 2:30 p.m. UTC suit you?" in body

    def test_the_day_held_is_the_recipients_day(self, client: TestClient) -> None:
        user = user_in(client, "America/New_York")
        anna = create_contact(client, user, full_name="Anna Weber", time_zone="Europe/Berlin")
        interview = create_interview(client, user, contact_id=anna["id"], scheduled_at=WINTER)
        # 23:30 UTC: still 9 December in New York, already 10 December in Berlin.
        held = datetime(2026, 12, 9, 23, 30, tzinfo=UTC)
        move(client, interview["id"], state="held", held_at=held, scheduled_at=held)
        r = client.post(
            DRAFT,
            json={"kind": "thank_you", "recipient_id": anna["id"], "interview_id": interview["id"]},
            headers=user.headers,
        )
        assert r.status_code == 201, r.text
        assert r.json()["subject"] == "Thank you for your time on 10 December 2026"


# --- the interview write-up -----------------------------------------------------------------------


class TestInterviewExport:
    def test_markdown_in_the_users_zone_json_in_utc(self, client: TestClient) -> None:
        user = user_in(client, "America/New_York")
        anna = create_contact(client, user, full_name="Anna Weber", time_zone="Europe/Berlin")
        interview = create_interview(client, user, contact_id=anna["id"], scheduled_at=SUMMER)
        # Held late on 9 December in New York: 10 December in UTC.
        held = datetime(2026, 12, 10, 3, 15, tzinfo=UTC)
        move(client, interview["id"], state="held", held_at=held, prepared_at=held)
        path = f"/api/v1/interviews/{interview['id']}/export"

        r = client.get(path, headers=user.headers)
        assert r.status_code == 200, r.text
        lines = r.text.splitlines()
        assert "- **Scheduled:** Tuesday 14 July 2026, 10:30 a.m. EDT" in lines
        assert "- **Held:** Wednesday 9 December 2026, 10:15 p.m. EST" in lines
        assert "UTC" not in r.text
        assert 'filename="interview-2026-12-09-anna-weber.md"' in r.headers["content-disposition"]

        doc = client.get(path, params={"format": "json"}, headers=user.headers).json()
        assert doc["time_zone"] == "America/New_York"
        assert doc["dates"]["scheduled_at"] == SUMMER
        assert doc["dates"]["held_at"] == "2026-12-10T03:15:00Z"
        assert doc["contact"]["time_zone"] == "Europe/Berlin"


# --- the agenda and the calendar --------------------------------------------------------------


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


class TestAgenda:
    def test_words_in_the_users_zone_machine_fields_in_utc(self, client: TestClient) -> None:
        user = user_in(client, "America/New_York")
        jane = create_contact(client, user, full_name="Jane Doe", time_zone="Europe/Berlin")
        interview = create_interview(client, user, contact_id=jane["id"])
        # Held at 20:00 UTC three days ago: the thank-you fell due at 20:00 UTC two days ago.
        held = _at(datetime.now(UTC).date() - timedelta(days=3), 20)
        move(client, interview["id"], state="held", held_at=held, scheduled_at=held)
        r = client.get("/api/v1/agenda", headers=user.headers)
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["time_zone"] == "America/New_York"
        (item,) = page["data"]
        due = held + timedelta(hours=24)
        assert item["due_at"] == due.strftime("%Y-%m-%dT%H:%M:%SZ")
        # 20:00 UTC is 3:00 p.m. in New York in winter, 4:00 p.m. in summer.
        assert item["due_label"] in {
            f"{due:%A} {due.day} {due:%B %Y}, 3:00 p.m. EST",
            f"{due:%A} {due.day} {due:%B %Y}, 4:00 p.m. EDT",
        }

    def test_the_interview_to_prepare_for_is_named_at_its_local_time(
        self, client: TestClient
    ) -> None:
        user = user_in(client, "Asia/Kolkata")
        jane = create_contact(client, user, full_name="Jane Doe")
        start = _at(datetime.now(UTC).date() + timedelta(days=2), 9)
        create_interview(client, user, contact_id=jane["id"], scheduled_at=start.isoformat())
        (item,) = client.get("/api/v1/agenda", headers=user.headers).json()["data"]
        assert item["kind"] == "prepare"
        assert (
            f"Prepare for your interview with Jane Doe on {start:%A} {start.day} "
            f"{start:%B %Y}, 2:30 p.m. IST: "
        ) in item["title"]


class TestCalendar:
    def test_all_day_items_fall_on_the_users_local_date(self, client: TestClient) -> None:
        user = user_in(client, "Pacific/Auckland")
        jane = create_contact(client, user, full_name="Jane Doe")
        interview = create_interview(client, user, contact_id=jane["id"])
        # The thank-you falls due at 20:00 UTC, 8 or 9 a.m. the next day in Auckland.
        due_day = datetime.now(UTC).date() - timedelta(days=2)
        held = _at(due_day, 20) - timedelta(hours=24)
        move(client, interview["id"], state="held", held_at=held, scheduled_at=held)
        r = client.post("/api/v1/calendar/token", headers=user.headers)
        assert r.status_code == 200, r.text
        feed = client.get("/api/v1/calendar.ics", params={"token": r.json()["token"]})
        assert feed.status_code == 200, feed.text
        (event,) = [
            e
            for e in Calendar.from_ical(feed.content).walk("VEVENT")
            if str(e["uid"]) == f"thank-{interview['id']}@infoview"
        ]
        assert event.decoded("dtstart") == due_day + timedelta(days=1)
        assert event.decoded("dtend") == due_day + timedelta(days=2)
        local = due_day + timedelta(days=1)
        assert f"Due: {local:%A} {local.day} {local:%B %Y}, " in str(event["description"])
        assert "NZDT" in str(event["description"]) or "NZST" in str(event["description"])
