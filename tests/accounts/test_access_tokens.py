"""Personal access tokens: created with scopes, shown once, stored hashed, held to their scopes."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, select

from app.accounts.token_schemas import PersonalAccessToken
from app.accounts.tokens import ANY_TOKEN, required_scope
from tests.factories import User, assert_problem, register
from tests.factories_contacts import create_contact

ALL_SCOPES = [
    "contacts:read",
    "contacts:write",
    "referrals:read",
    "referrals:write",
    "interviews:read",
    "interviews:write",
    "letters:read",
    "letters:write",
    "webhooks:manage",
    "export",
]


def create_token(
    client: TestClient, user: User, scopes: list[str] | None = None, **fields: Any
) -> dict[str, Any]:
    """Create a personal access token for ``user`` with their session; return the body."""
    body: dict[str, Any] = {"name": "integration", "scopes": scopes or ["contacts:read"]}
    body.update(fields)
    r = client.post("/api/v1/tokens", json=body, headers=user.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def stored_token(client: TestClient, token_id: str) -> PersonalAccessToken:
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        row = session.exec(
            select(PersonalAccessToken).where(col(PersonalAccessToken.id) == uuid.UUID(token_id))
        ).one()
        session.expunge(row)
        return row


def set_token_fields(client: TestClient, token_id: str, **values: Any) -> None:
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        session.execute(
            update(PersonalAccessToken)
            .where(col(PersonalAccessToken.id) == uuid.UUID(token_id))
            .values(**values)
        )
        session.commit()


class TestCreate:
    def test_secret_is_shown_once_and_stored_only_as_a_hash(self, client: TestClient) -> None:
        user = register(client)
        r = client.post(
            "/api/v1/tokens",
            json={"name": "CRM sync", "scopes": ["contacts:read", "contacts:write"]},
            headers=user.headers,
        )
        assert r.status_code == 201, r.text
        body = r.json()
        secret = body["token"]
        assert secret.startswith("ivk_") and len(secret) > 40
        assert body["prefix"] == secret[: len(body["prefix"])]
        assert body["prefix"].startswith("ivk_") and len(body["prefix"]) < 20
        assert body["scopes"] == ["contacts:read", "contacts:write"]
        assert body["name"] == "CRM sync"
        assert body["expires_at"] is None and body["last_used_at"] is None
        assert r.headers["location"] == f"/api/v1/tokens/{body['id']}"
        assert r.headers["cache-control"] == "no-store"

        row = stored_token(client, body["id"])
        assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in repr(row.model_dump())

        listed = client.get("/api/v1/tokens", headers=user.headers).json()["data"]
        assert [t["id"] for t in listed] == [body["id"]]
        assert "token" not in listed[0] and secret not in str(listed)
        one = client.get(body_location := r.headers["location"], headers=user.headers)
        assert one.status_code == 200, body_location
        assert "token" not in one.json()

    def test_duplicate_scopes_collapse_and_expiry_is_kept(self, client: TestClient) -> None:
        user = register(client)
        expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
        body = create_token(
            client,
            user,
            ["export", "export", "letters:read"],
            expires_at=expires.isoformat(),
        )
        assert body["scopes"] == ["export", "letters:read"]
        assert datetime.fromisoformat(body["expires_at"]) == expires

    def test_bad_input_is_422_and_creates_nothing(self, client: TestClient) -> None:
        user = register(client)
        payloads: list[dict[str, Any]] = [
            {"name": "x", "scopes": ["contacts:delete"]},  # an unknown scope
            {"name": "x", "scopes": ["admin"]},
            {"name": "x", "scopes": []},
            {"name": "x"},
            {"name": "", "scopes": ["export"]},
            {"name": "x" * 101, "scopes": ["export"]},
            {"name": "x", "scopes": ["export"], "expires_at": "2030-01-01T00:00:00"},  # naive
            {"name": "x", "scopes": ["export"], "owner_id": "someone"},
        ]
        for payload in payloads:
            r = client.post("/api/v1/tokens", json=payload, headers=user.headers)
            assert_problem(r, 422, "validation_error")
        assert client.get("/api/v1/tokens", headers=user.headers).json()["data"] == []

    def test_unknown_scope_is_named_in_the_errors(self, client: TestClient) -> None:
        user = register(client)
        r = client.post(
            "/api/v1/tokens",
            json={"name": "x", "scopes": ["export", "contacts:delete"]},
            headers=user.headers,
        )
        body = assert_problem(r, 422, "validation_error")
        assert body["errors"][0]["loc"] == ["body", "scopes", 1]

    def test_expiry_in_the_past_is_422(self, client: TestClient) -> None:
        user = register(client)
        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        r = client.post(
            "/api/v1/tokens",
            json={"name": "x", "scopes": ["export"], "expires_at": past},
            headers=user.headers,
        )
        body = assert_problem(r, 422, "expires_at_in_past")
        assert body["errors"][0]["loc"] == ["body", "expires_at"]
        assert client.get("/api/v1/tokens", headers=user.headers).json()["data"] == []

    def test_a_token_cannot_create_tokens(self, client: TestClient) -> None:
        user = register(client)
        secret = create_token(client, user, ALL_SCOPES)["token"]
        r = client.post(
            "/api/v1/tokens", json={"name": "child", "scopes": ["export"]}, headers=bearer(secret)
        )
        assert_problem(r, 403, "insufficient_scope")
        assert r.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')
        for method, path in (("GET", "/api/v1/tokens"), ("DELETE", "/api/v1/tokens/" + "0" * 32)):
            r = client.request(method, path, headers=bearer(secret))
            assert_problem(r, 403, "insufficient_scope")
        assert len(client.get("/api/v1/tokens", headers=user.headers).json()["data"]) == 1

    def test_requires_a_session(self, client: TestClient) -> None:
        r = client.post("/api/v1/tokens", json={"name": "x", "scopes": ["export"]})
        assert_problem(r, 401, "missing_token")


class TestList:
    def test_lists_only_own_live_tokens_newest_first_in_pages(self, client: TestClient) -> None:
        user, other = register(client), register(client)
        ids = [create_token(client, user, name=f"t{i}")["id"] for i in range(3)]
        create_token(client, other)
        client.delete(f"/api/v1/tokens/{ids[1]}", headers=user.headers)

        first = client.get("/api/v1/tokens?limit=1", headers=user.headers).json()
        assert [t["id"] for t in first["data"]] == [ids[2]] and first["has_more"]
        rest = client.get(
            f"/api/v1/tokens?limit=5&cursor={first['next_cursor']}", headers=user.headers
        ).json()
        assert [t["id"] for t in rest["data"]] == [ids[0]] and not rest["has_more"]

    def test_another_users_token_is_not_found(self, client: TestClient) -> None:
        user, other = register(client), register(client)
        token_id = create_token(client, other)["id"]
        assert_problem(
            client.get(f"/api/v1/tokens/{token_id}", headers=user.headers), 404, "token_not_found"
        )
        assert_problem(
            client.delete(f"/api/v1/tokens/{token_id}", headers=user.headers),
            404,
            "token_not_found",
        )


class TestRevoke:
    def test_revoked_token_is_401_at_once(self, client: TestClient) -> None:
        user = register(client)
        created = create_token(client, user)
        assert client.get("/api/v1/me", headers=bearer(created["token"])).status_code == 200

        r = client.delete(f"/api/v1/tokens/{created['id']}", headers=user.headers)
        assert r.status_code == 204 and r.content == b""
        r = client.get("/api/v1/me", headers=bearer(created["token"]))
        assert_problem(r, 401, "token_revoked")
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert stored_token(client, created["id"]).revoked_at is not None
        # Revoked is gone for the API: not listed, not found, not revocable again.
        assert client.get("/api/v1/tokens", headers=user.headers).json()["data"] == []
        r = client.delete(f"/api/v1/tokens/{created['id']}", headers=user.headers)
        assert_problem(r, 404, "token_not_found")


class TestUse:
    def test_any_token_reads_the_account(self, client: TestClient) -> None:
        user = register(client)
        secret = create_token(client, user, ["letters:read"])["token"]
        r = client.get("/api/v1/me", headers=bearer(secret))
        assert r.status_code == 200, r.text
        assert r.json()["id"] == user.id

    def test_token_with_scopes_reads_and_writes_contacts(self, client: TestClient) -> None:
        user = register(client)
        secret = create_token(client, user, ["contacts:read", "contacts:write"])["token"]
        r = client.post("/api/v1/contacts", json={"full_name": "Ada"}, headers=bearer(secret))
        assert r.status_code == 201, r.text
        listed = client.get("/api/v1/contacts", headers=bearer(secret)).json()["data"]
        assert [c["full_name"] for c in listed] == ["Ada"]
        # Rows written with a token belong to its user.
        assert len(client.get("/api/v1/contacts", headers=user.headers).json()["data"]) == 1

    def test_missing_scope_is_403_naming_it(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user)
        secret = create_token(client, user, ["contacts:read"])["token"]
        assert client.get(f"/api/v1/contacts/{contact['id']}", headers=bearer(secret)).is_success

        r = client.post("/api/v1/contacts", json={"full_name": "Bo"}, headers=bearer(secret))
        body = assert_problem(r, 403, "insufficient_scope")
        assert body["required_scope"] == "contacts:write"
        assert "contacts:write" in body["detail"]
        assert r.headers["www-authenticate"] == (
            'Bearer error="insufficient_scope", scope="contacts:write"'
        )
        r = client.patch(
            f"/api/v1/contacts/{contact['id']}", json={"notes": "x"}, headers=bearer(secret)
        )
        assert assert_problem(r, 403, "insufficient_scope")["required_scope"] == "contacts:write"
        r = client.get("/api/v1/referrals", headers=bearer(secret))
        assert assert_problem(r, 403, "insufficient_scope")["required_scope"] == "referrals:read"
        # Nothing was written by the refused calls.
        assert len(client.get("/api/v1/contacts", headers=user.headers).json()["data"]) == 1

    def test_a_token_cannot_delete_the_account(self, client: TestClient) -> None:
        user = register(client)
        secret = create_token(client, user, ALL_SCOPES)["token"]
        assert_problem(
            client.delete("/api/v1/me", headers=bearer(secret)), 403, "insufficient_scope"
        )
        assert client.get("/api/v1/me", headers=user.headers).status_code == 200

    def test_expired_token_is_401(self, client: TestClient) -> None:
        user = register(client)
        created = create_token(
            client, user, expires_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat()
        )
        assert client.get("/api/v1/me", headers=bearer(created["token"])).status_code == 200
        set_token_fields(client, created["id"], expires_at=datetime.now(UTC) - timedelta(seconds=1))
        r = client.get("/api/v1/me", headers=bearer(created["token"]))
        assert_problem(r, 401, "token_expired")
        assert r.headers["www-authenticate"].startswith("Bearer")

    @pytest.mark.parametrize("secret", ["ivk_", "ivk_not-a-real-token", "ivk_" + "a" * 43])
    def test_unknown_token_is_401(self, client: TestClient, secret: str) -> None:
        r = client.get("/api/v1/me", headers=bearer(secret))
        assert_problem(r, 401, "invalid_token")
        assert r.headers["www-authenticate"].startswith("Bearer")

    def test_token_of_a_deleted_account_is_401(self, client: TestClient) -> None:
        user = register(client)
        secret = create_token(client, user)["token"]
        assert client.delete("/api/v1/me", headers=user.headers).status_code == 204
        assert_problem(client.get("/api/v1/me", headers=bearer(secret)), 401, "invalid_token")

    def test_last_used_at_is_set_and_written_at_most_once_a_minute(
        self, client: TestClient
    ) -> None:
        user = register(client)
        created = create_token(client, user)
        assert stored_token(client, created["id"]).last_used_at is None
        before = datetime.now(UTC)
        client.get("/api/v1/me", headers=bearer(created["token"]))
        first = stored_token(client, created["id"]).last_used_at
        assert first is not None and first >= before - timedelta(seconds=1)
        client.get("/api/v1/me", headers=bearer(created["token"]))
        assert stored_token(client, created["id"]).last_used_at == first
        listed = client.get(f"/api/v1/tokens/{created['id']}", headers=user.headers).json()
        assert datetime.fromisoformat(listed["last_used_at"]) == first

        # A minute later the next use moves it on.
        set_token_fields(client, created["id"], last_used_at=first - timedelta(minutes=2))
        client.get("/api/v1/me", headers=bearer(created["token"]))
        later = stored_token(client, created["id"]).last_used_at
        assert later is not None and later > first - timedelta(minutes=1)


@pytest.mark.parametrize(
    ("tag", "method", "scope"),
    [
        ("contacts", "GET", "contacts:read"),
        ("contacts", "HEAD", "contacts:read"),
        ("contacts", "POST", "contacts:write"),
        ("contacts", "PUT", "contacts:write"),
        ("referrals", "DELETE", "referrals:write"),
        ("interviews", "PATCH", "interviews:write"),
        ("letters", "GET", "letters:read"),
        ("interactions", "GET", "interactions:read"),
        ("interactions", "PATCH", "interactions:write"),
        ("webhooks", "GET", "webhooks:manage"),
        ("webhooks", "POST", "webhooks:manage"),
        ("export", "GET", "export"),
        ("auth", "GET", ANY_TOKEN),
        ("auth", "DELETE", None),
        ("tokens", "GET", None),
        ("tokens", "POST", None),
        ("calendar", "GET", None),
        ("templates", "GET", "letters:read"),
        ("templates", "PUT", "letters:write"),
        ("agenda", "GET", "interviews:read"),
        ("questions", "GET", ANY_TOKEN),
        (None, "GET", None),
    ],
)
def test_required_scope_by_tag_and_method(tag: str | None, method: str, scope: str | None) -> None:
    assert required_scope(tag, method) == scope
