"""One structured JSON line per request, and never a token or a password in the log."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from app.kit.config import Settings
from app.kit.middleware import JsonFormatter
from app.main import create_app
from tests.factories import register

ME = "/api/v1/me"


class Captured:
    """What the root logger emitted, formatted exactly as the service formats it."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line]

    def access(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["logger"] == "infoview.access"]


@pytest.fixture
def log(client: TestClient) -> Iterator[Captured]:
    """Capture after ``client`` is built: create_app() replaces the root handlers."""
    captured = Captured()
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield captured
    finally:
        root.removeHandler(handler)


def test_one_line_per_request_with_its_facts(client: TestClient, log: Captured) -> None:
    user = register(client)
    log.stream.truncate(0)
    log.stream.seek(0)
    r = client.get(ME, headers={**user.headers, "X-Request-ID": "log-test-1"})
    assert r.status_code == 200
    (line,) = log.access()
    assert line["msg"] == "request"
    assert line["level"] == "info"
    assert line["method"] == "GET"
    assert line["route"] == "/api/v1/me"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
    assert line["request_id"] == "log-test-1"
    assert line["user_id"] == user.id


def test_every_request_is_logged_once_whatever_its_outcome(
    client: TestClient, log: Captured
) -> None:
    responses = [
        client.get("/healthz"),
        client.get(ME),
        client.get("/api/v1/nowhere"),
        client.post(ME),
        client.post(
            "/api/v1/auth/register", content=b"{", headers={"Content-Type": "application/json"}
        ),
        client.post("/api/v1/auth/register", content=b" " * (2 * 1024 * 1024 + 1)),
    ]
    lines = log.access()
    assert [line["status"] for line in lines] == [r.status_code for r in responses]
    assert [line["status"] for line in lines] == [200, 401, 404, 405, 422, 413]
    assert [line["request_id"] for line in lines] == [r.headers["x-request-id"] for r in responses]
    assert [line["route"] for line in lines] == [
        "/healthz",
        "/api/v1/me",
        "<unmatched>",
        "/api/v1/me",
        "/api/v1/auth/register",
        "<unmatched>",  # refused before routing
    ]
    assert all(line["user_id"] is None for line in lines)


def test_the_route_is_the_template_not_the_path(settings: Settings) -> None:
    application = create_app(settings)
    router = APIRouter(prefix="/test-only")

    @router.get("/items/{item_id}", operation_id="test-item")
    async def item(item_id: int) -> dict[str, int]:
        """An item."""
        return {"item_id": item_id}

    application.include_router(router, prefix="/v9")
    captured = Captured()
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    try:
        with TestClient(application) as client:
            assert client.get("/v9/test-only/items/42").json() == {"item_id": 42}
            assert client.get("/v9/test-only/items/x").status_code == 422
            assert client.get("/docs").status_code == 200
    finally:
        logging.getLogger().removeHandler(handler)
        application.state.engine.dispose()
    routes = [line["route"] for line in captured.access()]
    assert routes == ["/v9/test-only/items/{item_id}", "/v9/test-only/items/{item_id}", "/docs"]


def test_no_token_or_password_is_ever_logged(client: TestClient, log: Captured) -> None:
    password, wrong = "Tr0ub4dor&3-horse", "not-my-password-42"
    r = client.post(
        "/api/v1/auth/register", json={"email": "ada@example.com", "password": password}
    )
    assert r.status_code == 201
    tokens = client.post(
        "/api/v1/auth/token", data={"username": "ada@example.com", "password": password}
    ).json()
    client.post("/api/v1/auth/token", data={"username": "ada@example.com", "password": wrong})
    client.post("/api/v1/auth/register", json={"email": "ada@example.com", "password": password})
    client.post("/api/v1/auth/register", json={"email": "bad", "password": wrong})
    rotated = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    ).json()
    client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})  # reuse
    client.get(ME, headers={"Authorization": f"Bearer {rotated['access_token']}"})
    client.get(ME, headers={"Authorization": f"Bearer {tokens['access_token']}x"})
    client.post("/api/v1/auth/logout", json={"refresh_token": rotated["refresh_token"]})

    text = log.text
    assert len(log.access()) == 10
    secrets = [password, wrong, tokens["access_token"], tokens["refresh_token"]]
    secrets += [rotated["access_token"], rotated["refresh_token"]]
    for secret in secrets:
        assert secret not in text
        # Nor any recognisable piece of a token (its signature, say).
        for piece in secret.split("."):
            if len(piece) >= 16:
                assert piece not in text


def test_every_line_is_json(client: TestClient, log: Captured) -> None:
    register(client)
    client.get("/api/v1/nowhere")
    lines = log.lines()
    assert lines
    for line in lines:
        assert {"ts", "level", "logger", "msg"} <= set(line)


def test_register_and_token_log_no_user_id(client: TestClient, log: Captured) -> None:
    user = register(client)
    client.get(ME, headers=user.headers)
    register_line, token_line, me_line = log.access()
    assert register_line["route"] == "/api/v1/auth/register"
    assert token_line["route"] == "/api/v1/auth/token"
    assert register_line["user_id"] is None and token_line["user_id"] is None
    assert me_line["user_id"] == user.id


def test_logging_level_follows_the_setting(settings: Settings) -> None:
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    application = create_app(settings.model_copy(update={"log_level": "warning"}))
    try:
        assert root.getEffectiveLevel() == logging.WARNING
        assert not logging.getLogger("infoview.access").isEnabledFor(logging.INFO)
        assert len(root.handlers) == 1
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        application.state.engine.dispose()
        root.setLevel(level)
        root.handlers[:] = handlers
