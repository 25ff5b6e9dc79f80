"""The feed as calendar apps poll it, over HTTP on both databases: an absolute feed URL, HEAD,
an ETag that is a hash of the body and stays put while nothing changes, Last-Modified the
newest change among what it shows, 304 for a copy still current, and agenda items that name
people rather than ids."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlalchemy import update
from sqlmodel import Session

from app.accounts.schemas import UserAccount
from app.contacts.schemas import Contact
from app.interviews.schemas import Interview
from app.kit.config import Settings
from app.kit.db import utcnow
from tests.calendar.test_calendar import FEED, TOKEN_API, events, rotate, whole_minute
from tests.factories import register
from tests.factories_interviews import create_contact, create_interview


def get(client: TestClient, token: str, **headers: str) -> Any:
    return client.get(FEED, params={"token": token}, headers=headers)


def last_modified(response: Any) -> datetime:
    return parsedate_to_datetime(response.headers["last-modified"])


def set_updated_at(client: TestClient, table: Any, row_id: str, moment: datetime) -> None:
    app: Any = client.app
    with Session(app.state.engine) as session:
        session.execute(
            update(table).where(table.id == uuid.UUID(row_id)).values(updated_at=moment)
        )
        session.commit()


class TestFeedUrl:
    def test_absolute_from_the_request_by_default(self, client: TestClient) -> None:
        user = register(client)
        body = client.post(TOKEN_API, headers=user.headers).json()
        assert body["feed_url"] == f"http://testserver{FEED}?token={body['token']}"
        # It works as given, with nothing but the URL.
        assert client.get(body["feed_url"]).status_code == 200

    def test_from_the_configured_public_base_url(
        self, client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        app: Any = client.app
        public = settings.model_copy(update={"public_base_url": "https://api.example.com"})
        monkeypatch.setattr(app.state, "settings", public)
        user = register(client)
        body = client.post(TOKEN_API, headers=user.headers).json()
        assert body["feed_url"] == f"https://api.example.com{FEED}?token={body['token']}"

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("https://api.example.com/", "https://api.example.com"),
            ("http://host:8080/infoview", "http://host:8080/infoview"),
            ("", None),
        ],
    )
    def test_the_setting_is_normalised(
        self, monkeypatch: pytest.MonkeyPatch, value: str, expected: str | None
    ) -> None:
        monkeypatch.setenv("INFOVIEW_PUBLIC_BASE_URL", value)
        assert Settings(env="test").public_base_url == expected

    @pytest.mark.parametrize(
        "value", ["api.example.com", "ftp://api.example.com", "https://", "https://x/?a=1"]
    )
    def test_a_relative_or_odd_url_is_refused(
        self, monkeypatch: pytest.MonkeyPatch, value: str
    ) -> None:
        monkeypatch.setenv("INFOVIEW_PUBLIC_BASE_URL", value)
        with pytest.raises(ValueError, match="INFOVIEW_PUBLIC_BASE_URL"):
            Settings(env="test")


class TestValidators:
    def test_etag_is_the_body_hash_and_stays_put(self, client: TestClient) -> None:
        user = register(client)
        create_interview(client, user, scheduled_at=whole_minute(timedelta(days=5)).isoformat())
        token = rotate(client, user)
        first = get(client, token)
        assert first.status_code == 200, first.text
        etag = first.headers["etag"]
        assert etag == '"' + hashlib.sha256(first.content).hexdigest()[:32] + '"'
        assert first.headers["cache-control"] == "private, no-cache"
        again = get(client, token)
        assert again.content == first.content and again.headers["etag"] == etag

    def test_head_sends_the_headers_only(self, client: TestClient) -> None:
        user = register(client)
        create_interview(client, user, scheduled_at=whole_minute(timedelta(days=5)).isoformat())
        token = rotate(client, user)
        full = get(client, token)
        head = client.head(FEED, params={"token": token})
        assert head.status_code == 200
        assert head.content == b""
        for name in ("etag", "last-modified", "content-type", "cache-control"):
            assert head.headers[name] == full.headers[name]
        assert head.headers["content-length"] == str(len(full.content))
        assert client.head(FEED, params={"token": "ivc_wrong"}).status_code == 401
        r = client.head(
            FEED, params={"token": token}, headers={"If-None-Match": full.headers["etag"]}
        )
        assert r.status_code == 304

    def test_if_none_match(self, client: TestClient) -> None:
        user = register(client)
        jane = create_contact(client, user, full_name="Jane Doe")
        create_interview(
            client,
            user,
            contact_id=jane["id"],
            scheduled_at=whole_minute(timedelta(days=5)).isoformat(),
        )
        token = rotate(client, user)
        etag = get(client, token).headers["etag"]
        for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            r = get(client, token, **{"If-None-Match": header})
            assert r.status_code == 304, header
            assert r.content == b""
            assert r.headers["etag"] == etag
        assert get(client, token, **{"If-None-Match": '"other"'}).status_code == 200

        # A change to what it shows (her name) is a new body, a new ETag.
        r = client.patch(
            f"/api/v1/contacts/{jane['id']}",
            json={"full_name": "Jane Smith"},
            headers={**user.headers, "If-Match": f'"{jane["version"]}"'}
            if "version" in jane
            else user.headers,
        )
        assert r.status_code == 200, r.text
        changed = get(client, token, **{"If-None-Match": etag})
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag
        assert b"Jane Smith" in changed.content

    def test_last_modified_and_if_modified_since(self, client: TestClient) -> None:
        user = register(client)
        jane = create_contact(client, user, full_name="Jane Doe")
        iv = create_interview(
            client,
            user,
            contact_id=jane["id"],
            scheduled_at=whole_minute(timedelta(days=5)).isoformat(),
        )
        token = rotate(client, user)
        # Her contact changed last, a minute ago: the newest among what it shows.
        hour_ago = utcnow() - timedelta(hours=1)
        set_updated_at(client, UserAccount, str(user.id), hour_ago)
        set_updated_at(client, Interview, iv["id"], hour_ago)
        newest = (utcnow() - timedelta(minutes=1)).replace(microsecond=0)
        set_updated_at(client, Contact, jane["id"], newest + timedelta(microseconds=5))
        r = get(client, token)
        assert last_modified(r) == newest
        stamp = format_datetime(newest, usegmt=True)
        assert r.headers["last-modified"] == stamp

        assert get(client, token, **{"If-Modified-Since": stamp}).status_code == 304
        later = format_datetime(newest + timedelta(hours=1), usegmt=True)
        assert get(client, token, **{"If-Modified-Since": later}).status_code == 304
        earlier = format_datetime(newest - timedelta(seconds=1), usegmt=True)
        assert get(client, token, **{"If-Modified-Since": earlier}).status_code == 200
        assert get(client, token, **{"If-Modified-Since": "not a date"}).status_code == 200
        # If-None-Match decides when both are sent.
        both = {"If-None-Match": '"other"', "If-Modified-Since": later}
        assert get(client, token, **both).status_code == 200

    def test_last_modified_is_never_in_the_future(self, client: TestClient) -> None:
        user = register(client)
        jane = create_contact(client, user, full_name="Jane Doe")
        create_interview(
            client,
            user,
            contact_id=jane["id"],
            scheduled_at=whole_minute(timedelta(days=5)).isoformat(),
        )
        set_updated_at(client, Contact, jane["id"], utcnow() + timedelta(days=1))
        token = rotate(client, user)
        r = get(client, token)
        assert r.status_code == 200
        assert last_modified(r) <= datetime.now(UTC)


class TestAgendaDescriptions:
    def test_name_people_not_ids(self, client: TestClient) -> None:
        user = register(client)
        jane = create_contact(
            client,
            user,
            full_name="Jane Doe",
            title="Audit partner",
            organization="Acme",
            keep_in_touch_days=30,
        )
        start = whole_minute(timedelta(days=2))
        iv = create_interview(client, user, contact_id=jane["id"], scheduled_at=start.isoformat())
        r = get(client, rotate(client, user))
        found = events(Calendar.from_ical(r.content))

        prepare = str(found[f"prepare-{iv['id']}@infoview"]["description"])
        assert "Interview: with Jane Doe (Acme), " in prepare
        assert "Contact: Jane Doe (Audit partner, Acme)" in prepare
        keep = str(found[f"keep_in_touch-{jane['id']}@infoview"]["description"])
        assert "Contact: Jane Doe (Audit partner, Acme)" in keep
        for description in (prepare, keep):
            assert iv["id"] not in description and jane["id"] not in description
