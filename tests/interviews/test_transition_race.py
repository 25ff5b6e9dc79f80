"""Twenty simultaneous moves of one interview against a live two-worker server on PostgreSQL:
exactly one succeeds, the rest are refused, and exactly one event is recorded."""

from __future__ import annotations

import os
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.kit.db import utcnow
from tests.factories_interviews import FULL_CHECKLIST
from tests.live_server import live_server, private_postgres_database

POSTGRES_URL = os.environ.get("INFOVIEW_TEST_POSTGRES_URL")
CONCURRENCY = 20


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The base URL of a live two-worker server on a fresh, migrated database."""
    if not POSTGRES_URL:
        if os.environ.get("INFOVIEW_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail("INFOVIEW_TEST_REQUIRE_POSTGRES=1 but INFOVIEW_TEST_POSTGRES_URL is unset")
        pytest.skip("needs PostgreSQL: set INFOVIEW_TEST_POSTGRES_URL")
    with private_postgres_database(POSTGRES_URL) as url, live_server(url, workers=2) as base:
        yield base


def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def _prepared_interview(base: str) -> tuple[dict[str, str], str]:
    """A user and an interview of theirs in ``prepared``, scheduled an hour ago."""
    with httpx.Client(base_url=base, timeout=30) as http:
        email = f"race-{uuid.uuid4().hex[:8]}@example.com"
        password = "correct horse battery"
        _ok(http.post("/api/v1/auth/register", json={"email": email, "password": password}), 201)
        tokens = _ok(
            http.post("/api/v1/auth/token", data={"username": email, "password": password})
        )
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}

        contact = _ok(
            http.post("/api/v1/contacts", json={"full_name": "Rae Race"}, headers=headers), 201
        )
        interview = _ok(
            http.post(
                "/api/v1/interviews",
                json={
                    "contact_id": contact["id"],
                    "scheduled_at": (utcnow() - timedelta(hours=1)).isoformat(),
                },
                headers=headers,
            ),
            201,
        )
        letter = _ok(
            http.post(
                "/api/v1/letters",
                json={
                    "kind": "request",
                    "recipient_id": contact["id"],
                    "interview_id": interview["id"],
                    "subject": "A conversation about audit",
                    "body": "Could I ask you about your work in audit?",
                    "channel": "email",
                },
                headers=headers,
            ),
            201,
        )
        _ok(http.post(f"/api/v1/letters/{letter['id']}/send", headers=headers))

        iid = interview["id"]
        _ok(http.patch(f"/api/v1/interviews/{iid}/checklist", json=FULL_CHECKLIST, headers=headers))
        prepared = _ok(
            http.post(
                f"/api/v1/interviews/{iid}/transitions", json={"to": "prepared"}, headers=headers
            )
        )
        assert prepared["state"] == "prepared"
        return headers, iid


# Each round is one interview; two rounds make it near certain that at least one of them has
# two requests inside the read-then-write window at once (the refusals then include
# ``concurrent_transition``, not only ``invalid_transition``).
@pytest.mark.parametrize("round_", [1, 2])
def test_twenty_concurrent_holds_one_wins(server: str, round_: int) -> None:
    base = server
    headers, iid = _prepared_interview(base)
    url = f"{base}/api/v1/interviews/{iid}/transitions"
    start = threading.Barrier(CONCURRENCY)
    clients = [httpx.Client(timeout=60) for _ in range(CONCURRENCY)]
    for http in clients:  # open the connections first, so the requests leave together
        http.get(f"{base}/healthz")

    def hold(http: httpx.Client) -> httpx.Response:
        start.wait()
        return http.post(url, json={"to": "held"}, headers=headers)

    try:
        with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
            responses = list(pool.map(hold, clients))
    finally:
        for http in clients:
            http.close()

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 409: CONCURRENCY - 1}, [r.text for r in responses]
    for r in responses:
        if r.status_code == 409:
            body = r.json()
            assert body["code"] == "transition_refused"
            assert body["current_state"] == "held"
            assert [e["code"] for e in body["errors"]] in (
                ["concurrent_transition"],
                ["invalid_transition"],
            )

    with httpx.Client(base_url=base, timeout=30, headers=headers) as http:
        interview = _ok(http.get(f"/api/v1/interviews/{iid}"))
        assert interview["state"] == "held"
        events = _ok(http.get(f"/api/v1/interviews/{iid}/events"))["data"]
    assert [(e["from_state"], e["to_state"]) for e in events] == [
        ("request", "prepared"),
        ("prepared", "held"),
    ]
