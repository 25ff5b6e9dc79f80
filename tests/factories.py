"""Plain functions that build test data through the API itself."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from app.kit.security import PasswordWork

PASSWORD = "correct horse battery"


@contextmanager
def password_line_full(client: TestClient) -> Iterator[PasswordWork]:
    """Inside the block, every password check is refused (``password_checks_busy``): the
    app's password work gets one place, taken from the server's own loop, and no waiting."""
    work = PasswordWork(at_once=1, waiting=0)
    client.app.state.password_work = work  # type: ignore[attr-defined]
    portal = client.portal
    assert portal is not None
    holder = object()
    portal.call(lambda: work.limiter.acquire_on_behalf_of_nowait(holder))
    try:
        yield work
    finally:
        portal.call(lambda: work.limiter.release_on_behalf_of(holder))


@dataclass
class User:
    """A registered, logged-in user and the headers that speak for them."""

    id: str
    email: str
    access_token: str
    refresh_token: str
    headers: dict[str, str] = field(default_factory=dict)


def register(client: TestClient, email: str | None = None, password: str = PASSWORD) -> User:
    """Register a new user and log them in."""
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    r = client.post("/api/v1/auth/register", json={"email": email, "password": password})
    assert r.status_code == 201, r.text
    user_id = r.json()["id"]
    tokens = login(client, email, password)
    return User(
        id=user_id,
        email=email.lower(),
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )


def login(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    """Log in with the OAuth2 password form and return the token response."""
    r = client.post("/api/v1/auth/token", data={"username": email, "password": password})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def assert_problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """Check that a response is an RFC 9457 problem of the given status (and code)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].endswith("/" + body["code"])
    assert body["request_id"] == response.headers["x-request-id"]
    if code is not None:
        assert body["code"] == code, body
    return body
