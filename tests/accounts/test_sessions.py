"""Sessions end at once and for good: logout and a reused refresh token end the session's
access tokens on their next request; a session has an absolute lifetime; logout is
rate-limited.

An access token names its session (``sid``, the login's refresh-token family); every
statement that checks the caller also checks that session is not revoked, so reads stay at one
round trip (``tests/kit/test_round_trips.py``) and still refuse an ended session.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jose import jwt

from app.kit.config import Settings
from app.main import create_app
from tests.factories import User, assert_problem, login, register

REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
CONTACTS = "/api/v1/contacts"
INTERVIEWS = "/api/v1/interviews"
AGENDA = "/api/v1/agenda"
ME = "/api/v1/me"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def seed(client: TestClient, user: User) -> str:
    """A contact with an interview; the contact's id."""
    contact = client.post(CONTACTS, json={"full_name": "Ada"}, headers=user.headers)
    assert contact.status_code == 201, contact.text
    contact_id: str = contact.json()["id"]
    interview = client.post(
        INTERVIEWS, json={"contact_id": contact_id, "mode": "phone"}, headers=user.headers
    )
    assert interview.status_code == 201, interview.text
    return contact_id


def every_kind_of_call(
    client: TestClient, headers: dict[str, str], contact_id: str
) -> dict[str, Any]:
    """One call of each path the caller is checked by: a read of one row and a page (their
    own statement checks the caller), a create (a unit of work guarded by the caller), an
    update, the agenda and ``/me`` (a caller check of their own); and a create through the
    Idempotency-Key middleware."""
    return {
        "contact get": client.get(f"{CONTACTS}/{contact_id}", headers=headers),
        "interview list": client.get(f"{INTERVIEWS}?limit=10", headers=headers),
        "contact list": client.get(f"{CONTACTS}?limit=10", headers=headers),
        "contact create": client.post(CONTACTS, json={"full_name": "Bo"}, headers=headers),
        "contact update": client.patch(
            f"{CONTACTS}/{contact_id}", json={"organization": "Acme"}, headers=headers
        ),
        "agenda": client.get(AGENDA, headers=headers),
        "me": client.get(ME, headers=headers),
        "idempotent create": client.post(
            CONTACTS,
            json={"full_name": "Cy"},
            headers={**headers, "Idempotency-Key": f"k-{time.monotonic_ns()}"},
        ),
    }


def assert_all_answer(client: TestClient, headers: dict[str, str], contact_id: str) -> None:
    for name, response in every_kind_of_call(client, headers, contact_id).items():
        assert response.status_code < 300, (name, response.text)


def assert_all_refused(client: TestClient, headers: dict[str, str], contact_id: str) -> None:
    for name, response in every_kind_of_call(client, headers, contact_id).items():
        assert response.status_code == 401, (name, response.text)
        assert_problem(response, 401, "invalid_token")
        assert response.headers["www-authenticate"].startswith("Bearer"), name


def contact_names(client: TestClient, user_headers: dict[str, str]) -> list[str]:
    page = client.get(f"{CONTACTS}?limit=100", headers=user_headers)
    assert page.status_code == 200, page.text
    return sorted(item["full_name"] for item in page.json()["data"])


class TestLogoutEndsTheSession:
    def test_its_access_token_is_refused_at_once_everywhere(self, client: TestClient) -> None:
        user = register(client)
        contact_id = seed(client, user)
        other = login(client, user.email)  # another session of the same account
        assert_all_answer(client, user.headers, contact_id)
        names = contact_names(client, user.headers)

        r = client.post(LOGOUT, json={"refresh_token": user.refresh_token})
        assert r.status_code == 204, r.text

        # The access token has most of its 15 minutes left, and is refused anyway.
        assert_all_refused(client, user.headers, contact_id)
        # Nothing was written by the refused writes; the other session is untouched.
        assert contact_names(client, bearer(other["access_token"])) == names
        assert_all_answer(client, bearer(other["access_token"]), contact_id)

    def test_every_access_token_of_the_session_is_refused(self, client: TestClient) -> None:
        user = register(client)
        contact_id = seed(client, user)
        rotated = client.post(REFRESH, json={"refresh_token": user.refresh_token}).json()
        r = client.post(LOGOUT, json={"refresh_token": rotated["refresh_token"]})
        assert r.status_code == 204, r.text
        for token in (user.access_token, rotated["access_token"]):
            assert_problem(client.get(f"{CONTACTS}/{contact_id}", headers=bearer(token)), 401)
            assert_problem(client.get(AGENDA, headers=bearer(token)), 401)

    def test_personal_access_tokens_outlive_the_session_that_made_them(
        self, client: TestClient
    ) -> None:
        user = register(client)
        contact_id = seed(client, user)
        made = client.post(
            "/api/v1/tokens",
            json={"name": "script", "scopes": ["contacts:read"]},
            headers=user.headers,
        )
        assert made.status_code == 201, made.text
        assert client.post(LOGOUT, json={"refresh_token": user.refresh_token}).status_code == 204
        r = client.get(f"{CONTACTS}/{contact_id}", headers=bearer(made.json()["token"]))
        assert r.status_code == 200, r.text


class TestFamilyRevocationEndsTheSession:
    def test_a_reused_refresh_token_ends_the_sessions_access_tokens(
        self, client: TestClient
    ) -> None:
        user = register(client)
        contact_id = seed(client, user)
        rotated = client.post(REFRESH, json={"refresh_token": user.refresh_token}).json()
        fresh = bearer(rotated["access_token"])
        assert_all_answer(client, fresh, contact_id)

        reuse = client.post(REFRESH, json={"refresh_token": user.refresh_token})
        assert_problem(reuse, 401, "refresh_token_reused")

        assert_all_refused(client, fresh, contact_id)
        assert_all_refused(client, user.headers, contact_id)


@pytest.fixture
def short_sessions(settings: Settings) -> Iterator[TestClient]:
    """A second app on the same database whose sessions last a split second."""
    application = create_app(settings.model_copy(update={"session_lifetime_days": 1e-9}))
    with TestClient(application, raise_server_exceptions=False) as client:
        yield client
    application.state.engine.dispose()


class TestAbsoluteSessionLifetime:
    def test_refresh_is_refused_once_the_session_is_older_than_its_lifetime(
        self, client: TestClient, short_sessions: TestClient
    ) -> None:
        user = register(client)
        # Within the default 30 days a session refreshes (and slides) as before.
        first = client.post(REFRESH, json={"refresh_token": user.refresh_token})
        assert first.status_code == 200, first.text
        latest = first.json()["refresh_token"]

        r = short_sessions.post(REFRESH, json={"refresh_token": latest})
        assert_problem(r, 401, "session_expired")
        assert r.headers["www-authenticate"].startswith("Bearer")
        # A refusal revokes nothing: the same token still refreshes where sessions last longer.
        assert client.post(REFRESH, json={"refresh_token": latest}).status_code == 200

    def test_rotation_keeps_the_time_of_the_login(self, client: TestClient) -> None:
        user = register(client)
        logged_in_at = jwt.get_unverified_claims(user.refresh_token)["auth_time"]
        token = user.refresh_token
        for _ in range(2):
            r = client.post(REFRESH, json={"refresh_token": token})
            assert r.status_code == 200, r.text
            token = r.json()["refresh_token"]
        assert jwt.get_unverified_claims(token)["auth_time"] == logged_in_at


class TestLogoutRateLimit:
    @pytest.fixture
    def limited(self, settings: Settings) -> Iterator[TestClient]:
        application = create_app(settings.model_copy(update={"rate_limit_auth_per_minute": 3}))
        with TestClient(application, raise_server_exceptions=False) as client:
            yield client
        application.state.engine.dispose()

    def test_logouts_are_counted_per_address_invalid_bodies_too(self, limited: TestClient) -> None:
        # The hostile body of the report: tens of thousands of unknown keys, no token at all.
        hostile = {f"k{i}": 0 for i in range(20_000)}
        started = time.monotonic()
        r = limited.post(LOGOUT, json=hostile)
        assert_problem(r, 422)
        assert len(r.content) < 64 * 1024
        assert_problem(limited.post(LOGOUT, json={"refresh_token": "nope"}), 401)
        assert_problem(limited.post(LOGOUT, json={"refresh_token": "nope"}), 401)
        refused = limited.post(LOGOUT, json=hostile)
        assert_problem(refused, 429, "rate_limited")
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert '"auth-address";q=3;w=60' in refused.headers["RateLimit-Policy"]
        assert time.monotonic() - started < 10

    def test_the_limit_is_declared(self, client: TestClient) -> None:
        operation = client.get("/openapi.json").json()["paths"][LOGOUT]["post"]
        assert "Retry-After" in operation["responses"]["429"]["headers"]
