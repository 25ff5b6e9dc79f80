"""The calendar subscription: its own revocable token, and the iCalendar feed it opens.

The feed is read back with ``icalendar.Calendar.from_ical``, as a calendar app would.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlalchemy import update
from sqlmodel import Session

from app.accounts.schemas import UserAccount
from app.interviews.schemas import Interview
from app.kit.db import utcnow
from tests.factories import User, assert_problem, register
from tests.factories_interviews import (
    create_contact,
    create_interview,
    prepared_interview,
    transition,
)

TOKEN_API = "/api/v1/calendar/token"
FEED = "/api/v1/calendar.ics"


def rotate(client: TestClient, user: User) -> str:
    r = client.post(TOKEN_API, headers=user.headers)
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    return token


def feed(client: TestClient, token: str) -> Calendar:
    """Fetch the feed with no bearer header, as a calendar app does, and parse it."""
    r = client.get(FEED, params={"token": token})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/calendar")
    return Calendar.from_ical(r.content)


def events(calendar: Calendar) -> dict[str, Any]:
    return {str(event["uid"]): event for event in calendar.walk("VEVENT")}


def whole_minute(delta: timedelta) -> datetime:
    """A time ``delta`` from now, on the minute (iCalendar keeps whole seconds)."""
    return (utcnow() + delta).replace(second=0, microsecond=0)


def move(client: TestClient, interview_id: str, **values: Any) -> None:
    app: Any = client.app
    with Session(app.state.engine) as session:
        session.execute(
            update(Interview)
            .where(Interview.id == uuid.UUID(interview_id))  # type: ignore[arg-type]
            .values(**values)
        )
        session.commit()


class TestToken:
    def test_shown_once_and_stored_as_a_hash(self, client: TestClient) -> None:
        user = register(client)
        r = client.post(TOKEN_API, headers=user.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        token = body["token"]
        assert token.startswith("ivc_") and len(token) > 40
        assert body["feed_url"] == f"http://testserver{FEED}?token={token}"
        assert r.headers["cache-control"] == "no-store"
        app: Any = client.app
        with Session(app.state.engine) as session:
            account = session.get(UserAccount, uuid.UUID(user.id))
            assert account is not None
            assert account.calendar_token_hash == hashlib.sha256(token.encode()).hexdigest()

    def test_rotation_stops_the_old_token_at_once(self, client: TestClient) -> None:
        user = register(client)
        old = rotate(client, user)
        feed(client, old)
        new = rotate(client, user)
        assert new != old
        r = client.get(FEED, params={"token": old})
        assert_problem(r, 401, "calendar_token_invalid")
        assert r.headers["www-authenticate"] == "Bearer"
        feed(client, new)

    def test_revoking_turns_the_feed_off(self, client: TestClient) -> None:
        user = register(client)
        token = rotate(client, user)
        r = client.delete(TOKEN_API, headers=user.headers)
        assert r.status_code == 204, r.text
        assert_problem(client.get(FEED, params={"token": token}), 401, "calendar_token_invalid")

    def test_managing_the_token_needs_a_session(self, client: TestClient) -> None:
        assert_problem(client.post(TOKEN_API), 401)
        assert_problem(client.delete(TOKEN_API), 401)
        user = register(client)
        r = client.post(
            "/api/v1/tokens",
            json={"name": "sync", "scopes": ["interviews:read"]},
            headers=user.headers,
        )
        assert r.status_code == 201, r.text
        pat = {"Authorization": f"Bearer {r.json()['token']}"}
        assert_problem(client.post(TOKEN_API, headers=pat), 403, "insufficient_scope")


class TestFeedAccess:
    def test_missing_and_wrong_tokens_are_401(self, client: TestClient) -> None:
        user = register(client)
        rotate(client, user)
        r = client.get(FEED)
        assert_problem(r, 401, "calendar_token_missing")
        assert r.headers["www-authenticate"] == "Bearer"
        # A bearer header does not open the feed: it has its own token.
        assert_problem(client.get(FEED, headers=user.headers), 401, "calendar_token_missing")
        for wrong in ("ivc_" + "x" * 43, user.access_token, "nope"):
            assert_problem(client.get(FEED, params={"token": wrong}), 401, "calendar_token_invalid")

    def test_long_tokens_are_refused_without_a_lookup(self, client: TestClient) -> None:
        long = "ivc_" + "x" * 500
        assert_problem(client.get(FEED, params={"token": long}), 401, "calendar_token_invalid")
        assert_problem(client.get(FEED, params={"token": "ivc_" + "x" * 3000}), 422)

    def test_one_users_token_never_shows_another_users_events(self, client: TestClient) -> None:
        alice, bob = register(client), register(client)
        a = create_interview(
            client, alice, scheduled_at=whole_minute(timedelta(days=1)).isoformat()
        )
        b = create_interview(client, bob, scheduled_at=whole_minute(timedelta(days=1)).isoformat())
        alice_uids = set(events(feed(client, rotate(client, alice))))
        bob_uids = set(events(feed(client, rotate(client, bob))))
        assert f"{a['id']}@infoview" in alice_uids and f"{a['id']}@infoview" not in bob_uids
        assert f"{b['id']}@infoview" in bob_uids and f"{b['id']}@infoview" not in alice_uids
        assert not any(b["id"] in uid for uid in alice_uids)


class TestFeedContent:
    def test_scheduled_interviews_are_timed_events(self, client: TestClient) -> None:
        user = register(client)
        jane = create_contact(
            client, user, full_name="Jane Doe", organization="Acme", title="Audit partner"
        )
        start = whole_minute(timedelta(days=2))
        video = create_interview(
            client,
            user,
            contact_id=jane["id"],
            mode="video",
            scheduled_at=start.isoformat(),
            duration_minutes=45,
            location="https://meet.example/jane",
            career_field="accounting",
            notes="Ask about the busy season.",
        )
        kim = create_contact(client, user, full_name="Kim Lee")
        face = create_interview(
            client,
            user,
            contact_id=kim["id"],
            scheduled_at=(start + timedelta(days=3)).isoformat(),
            location="Acme HQ, 1 Main Street",
            organization="Beta Bank",
        )
        calendar = feed(client, rotate(client, user))
        assert str(calendar["version"]) == "2.0" and "Infoview" in str(calendar["prodid"])
        found = events(calendar)

        event = found[f"{video['id']}@infoview"]
        assert event.decoded("dtstart") == start
        assert event.decoded("dtend") == start + timedelta(minutes=45)
        assert str(event["summary"]) == "Informational interview with Jane Doe (Acme)"
        assert str(event["location"]) == "https://meet.example/jane"
        assert str(event["url"]) == "https://meet.example/jane"
        description = str(event["description"])
        for part in ("video", "Jane Doe", "Audit partner", "accounting", "busy season"):
            assert part in description, description
        assert str(event["status"]) == "TENTATIVE"

        event = found[f"{face['id']}@infoview"]
        assert event.decoded("dtend") - event.decoded("dtstart") == timedelta(minutes=30)
        assert str(event["summary"]) == "Informational interview with Kim Lee (Beta Bank)"
        assert str(event["location"]) == "Acme HQ, 1 Main Street"
        assert "in person" in str(event["description"])

    def test_what_is_left_out(self, client: TestClient) -> None:
        user = register(client)
        unscheduled = create_interview(client, user)
        cancelled = create_interview(
            client, user, scheduled_at=whole_minute(timedelta(days=1)).isoformat()
        )
        r = transition(client, user, cancelled["id"], "cancelled", reason="They moved abroad")
        assert r.status_code == 200, r.text
        long_ago = prepared_interview(client, user)
        move(client, long_ago["id"], scheduled_at=utcnow() - timedelta(days=100))
        recent = prepared_interview(client, user)
        move(client, recent["id"], scheduled_at=utcnow() - timedelta(days=30))
        far = create_interview(
            client, user, scheduled_at=whole_minute(timedelta(days=400)).isoformat()
        )

        uids = set(events(feed(client, rotate(client, user))))
        assert f"{recent['id']}@infoview" in uids
        for left_out in (unscheduled, cancelled, long_ago, far):
            assert f"{left_out['id']}@infoview" not in uids

    def test_uid_is_stable_and_a_moved_interview_moves(self, client: TestClient) -> None:
        user = register(client)
        start = whole_minute(timedelta(days=10))
        iv = create_interview(client, user, scheduled_at=start.isoformat())
        token = rotate(client, user)
        before = events(feed(client, token))[f"{iv['id']}@infoview"]
        r = client.patch(
            f"/api/v1/interviews/{iv['id']}",
            json={"scheduled_at": (start + timedelta(hours=2)).isoformat()},
            headers=user.headers,
        )
        assert r.status_code == 200, r.text
        after = events(feed(client, token))[f"{iv['id']}@infoview"]
        assert after.decoded("dtstart") == start + timedelta(hours=2)
        assert int(after["sequence"]) > int(before["sequence"])

    def test_agenda_items_are_all_day_events(self, client: TestClient) -> None:
        user = register(client)
        jane = create_contact(client, user, full_name="Jane Doe", keep_in_touch_days=30)
        start = whole_minute(timedelta(days=2))
        iv = create_interview(client, user, contact_id=jane["id"], scheduled_at=start.isoformat())
        found = events(feed(client, rotate(client, user)))

        prepare = found[f"prepare-{iv['id']}@infoview"]
        due = (start - timedelta(days=3)).date()
        assert prepare.decoded("dtstart") == due and isinstance(prepare.decoded("dtstart"), date)
        assert not isinstance(prepare.decoded("dtstart"), datetime)
        assert prepare.decoded("dtend") == due + timedelta(days=1)
        assert str(prepare["summary"]).startswith("Prepare for your interview with Jane Doe")
        assert str(prepare["transp"]) == "TRANSPARENT"
        assert "overdue" in str(prepare["description"])

        keep = found[f"keep_in_touch-{jane['id']}@infoview"]  # due in 30 days: within the feed
        assert (
            keep.decoded("dtstart")
            == (
                datetime.fromisoformat(jane["created_at"].replace("Z", "+00:00"))
                + timedelta(days=30)
            ).date()
        )
        assert str(keep["summary"]) == "Keep in touch with Jane Doe"
