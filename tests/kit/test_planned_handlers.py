"""Planned request handlers answer exactly as FastAPI's own handlers would.

The same app serves each request twice: through the plans, and through FastAPI's handlers
(which it falls back to while ``dependency_overrides`` is non-empty). Status, headers and body
must match, for good requests and for every kind of bad one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.kit.handlers import PlannedRoute
from tests.factories import User, register
from tests.factories_interviews import create_interview

_VARYING = {"x-request-id", "date", "ratelimit", "ratelimit-policy", "location", "etag"}


def _unused_dependency() -> None:  # pragma: no cover - only ever a key
    """A dependency no route uses: overriding it switches every route to FastAPI's handler."""


@contextmanager
def fastapi_handlers(app: FastAPI) -> Iterator[None]:
    app.dependency_overrides[_unused_dependency] = _unused_dependency
    try:
        yield
    finally:
        app.dependency_overrides.clear()


def _answer(response: Any) -> tuple[int, dict[str, str], Any]:
    headers = {k: v for k, v in response.headers.items() if k not in _VARYING}
    try:
        body = response.json()
    except ValueError:
        body = response.content
    if isinstance(body, dict):
        body.pop("request_id", None)
        for key in ("id", "created_at", "updated_at", "requested_at", "due_before"):
            body.pop(key, None)
    return response.status_code, headers, body


def test_almost_every_operation_is_planned(client: TestClient) -> None:
    routes = [r for r in client.app.routes if isinstance(r, PlannedRoute)]  # type: ignore[attr-defined]
    assert len(routes) > 50
    unplanned = sorted(f"{sorted(r.methods)} {r.path}" for r in routes if not r.planned)
    # The password form (a form body) and streamed exports keep FastAPI's handler.
    assert len(unplanned) <= 4, unplanned
    assert not any("/interviews" in path or path[-9:] == "/contacts" for path in unplanned)


def _requests(user: User, interview_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    auth = user.headers
    return [
        # reads: path and query parameters, good and bad
        ("GET", f"/api/v1/interviews/{interview_id}", {"headers": auth}),
        ("GET", "/api/v1/interviews/not-a-uuid", {"headers": auth}),
        ("GET", f"/api/v1/interviews/{uuid.uuid4()}", {"headers": auth}),
        ("GET", "/api/v1/interviews", {"headers": auth, "params": {"limit": 1}}),
        ("GET", "/api/v1/interviews", {"headers": auth, "params": {"limit": 0}}),
        ("GET", "/api/v1/interviews", {"headers": auth, "params": {"limit": "many"}}),
        (
            "GET",
            "/api/v1/interviews",
            {"headers": auth, "params": {"state": "bogus", "scheduled_after": "yesterday"}},
        ),
        ("GET", "/api/v1/interviews", {"headers": auth, "params": {"cursor": "!!"}}),
        ("GET", "/api/v1/interviews", {"params": {"limit": 0}}),  # no token and a bad query
        ("GET", "/api/v1/interviews", {"headers": {"Authorization": "Bearer nonsense"}}),
        ("GET", "/api/v1/contacts", {"headers": auth, "params": {"tag": ["a", "b"]}}),
        ("GET", "/api/v1/agenda", {"headers": auth}),
        ("GET", "/api/v1/me", {"headers": auth}),
        ("GET", "/healthz", {}),
        # writes: JSON bodies, content types, headers
        ("POST", "/api/v1/contacts", {"headers": auth, "json": {"full_name": "Ada"}}),
        ("POST", "/api/v1/contacts", {"headers": auth, "json": {"full_name": ""}}),
        ("POST", "/api/v1/contacts", {"headers": auth, "json": ["not", "an", "object"]}),
        ("POST", "/api/v1/contacts", {"headers": auth, "json": {"full_name": "A", "x": 1}}),
        (
            "POST",
            "/api/v1/contacts",
            {"headers": {**auth, "Content-Type": "application/json"}, "content": b"{oops"},
        ),
        (
            "POST",
            "/api/v1/contacts",
            {"headers": {**auth, "Content-Type": "text/plain"}, "content": b'{"full_name":"A"}'},
        ),
        (
            "POST",
            "/api/v1/contacts",
            {
                "headers": {**auth, "Content-Type": "application/merge-patch+json"},
                "content": b'{"full_name":"A"}',
            },
        ),
        ("POST", "/api/v1/contacts", {"headers": auth}),  # no body at all
        (
            "PATCH",
            f"/api/v1/interviews/{interview_id}",
            {"headers": {**auth, "If-Match": '"999"'}, "json": {"notes": "n"}},
        ),
        (
            "POST",
            f"/api/v1/interviews/{interview_id}/transitions",
            {"headers": auth, "json": {"to": "held"}},
        ),
        (
            "POST",
            f"/api/v1/interviews/{interview_id}/transitions",
            {"headers": auth, "json": {"to": "nowhere"}},
        ),
    ]


@pytest.mark.parametrize("index", range(25))
def test_planned_and_fastapi_handlers_answer_alike(client: TestClient, index: int) -> None:
    user = register(client)
    interview = create_interview(client, user)
    method, path, kwargs = _requests(user, interview["id"])[index]
    planned = _answer(client.request(method, path, **kwargs))
    with fastapi_handlers(client.app):  # type: ignore[arg-type]
        standard = _answer(client.request(method, path, **kwargs))
    assert planned == standard
