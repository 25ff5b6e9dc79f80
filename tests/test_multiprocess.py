"""Several processes on one PostgreSQL database: two ``infoview serve`` and one ``infoview worker``.

The two API processes (A and B, one worker each, no dispatcher of their own) share one
database and one Redis (rate-limit counters under a prefix unique to this run); the worker
delivers webhooks to a real receiver on 127.0.0.1. Across A and B:

- creates and moves through either process are seen by the other;
- an Idempotency-Key used on A replays on B, and one sent to both at once runs once;
- the auth rate limit counts the attempts on both (Redis);
- of simultaneous moves of one interview sent to both, exactly one wins, with one event;
- events caused through both are delivered by the worker, each once, with valid signatures.

PostgreSQL only (``INFOVIEW_TEST_POSTGRES_URL``); the rate-limit test also needs Redis
(``INFOVIEW_TEST_REDIS_URL``, by default redis://127.0.0.1:6379/0).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from app.contacts.schemas import Contact
from app.interviews.schemas import InterviewEvent
from app.kit.db import make_engine
from app.kit.rate_limiter import RedisRateLimiter
from app.webhooks.schemas import OutboxEvent, WebhookDelivery
from tests.factories import PASSWORD, assert_problem
from tests.factories_interviews import FULL_CHECKLIST, past
from tests.factories_webhooks import ALL_EVENTS
from tests.live_server import private_postgres_database
from tests.test_crash_safety import (
    STARTUP_TIMEOUT,
    Server,
    kill,
    launch_server,
    logged_errors,
    spawn,
    wait_healthy,
)
from tests.webhook_receiver import Receiver, process_env

POSTGRES_URL = os.environ.get("INFOVIEW_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("INFOVIEW_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
AUTH_LIMIT = 5
TIMEOUT = 60.0

_addresses = itertools.count(1)


def fresh_address() -> str:
    """A client address of its own (uvicorn trusts X-Forwarded-For from loopback), so the
    per-address auth limit of one part of this module never counts another part's calls."""
    n = next(_addresses)
    return f"10.{random.randrange(256)}.{n // 256}.{n % 256}"


def redis_reachable(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


@dataclass
class Cluster:
    """The processes under test and what they share."""

    a: Server
    b: Server
    worker_log: Path
    database_url: str
    engine: Engine
    receiver: Receiver
    redis_ok: bool

    def client(self, server: Server, headers: dict[str, str] | None = None) -> httpx.Client:
        return httpx.Client(base_url=server.base, headers=headers or {}, timeout=TIMEOUT)


def wait_for_log(process: Any, log: Path, text: str, timeout: float = STARTUP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}:\n{log.read_text()}")
        if log.exists() and text in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{text!r} never appeared in {log}:\n{log.read_text(errors='replace')}")


async def _forget_counters(prefix: str) -> None:
    """Delete the rate-limit counters the cluster's processes left in Redis."""
    limiter = RedisRateLimiter(REDIS_URL, prefix)
    await limiter.reset()
    await limiter.close()


def reap(process: subprocess.Popen[bytes], grace: float = 20.0) -> int:
    """Wait for a process that was asked to stop; SIGKILL it if it takes too long."""
    try:
        return process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        kill(process)
        return process.wait()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if not POSTGRES_URL:
        if os.environ.get("INFOVIEW_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail("INFOVIEW_TEST_REQUIRE_POSTGRES=1 but INFOVIEW_TEST_POSTGRES_URL is unset")
        pytest.skip("needs PostgreSQL: set INFOVIEW_TEST_POSTGRES_URL")
    redis_ok = redis_reachable(REDIS_URL)
    if not redis_ok and os.environ.get("INFOVIEW_TEST_REDIS_URL"):
        pytest.fail(f"INFOVIEW_TEST_REDIS_URL is set but {REDIS_URL} does not answer")
    prefix = f"infoview-test:{uuid.uuid4().hex}:"
    with (
        tempfile.TemporaryDirectory(prefix="infoview-multi-") as tmp,
        private_postgres_database(POSTGRES_URL) as url,
        Receiver() as receiver,
    ):
        var_dir = Path(tmp)
        env = process_env(
            url,
            var_dir,
            INFOVIEW_RUN_DISPATCHER="false",
            INFOVIEW_REDIS_URL=REDIS_URL,
            INFOVIEW_RATE_LIMIT_PREFIX=prefix,
            INFOVIEW_RATE_LIMIT_AUTH_PER_MINUTE=str(AUTH_LIMIT),
            INFOVIEW_RATE_LIMIT_WRITES_PER_MINUTE="1000000",
            INFOVIEW_WEBHOOK_ALLOW_PRIVATE="true",
            INFOVIEW_WEBHOOK_RETRY_SCHEDULE="[1, 2, 4]",
        )
        worker_log = var_dir / "worker.log"
        engine = make_engine(url, pool_size=1)
        processes: dict[str, subprocess.Popen[bytes]] = {}
        try:
            # All three start at once: on a loaded machine each can take half a minute.
            a = launch_server(env, var_dir / "serve-a.log")
            processes["a"] = a.process
            b = launch_server(env, var_dir / "serve-b.log")
            processes["b"] = b.process
            worker = spawn(
                ["worker", "--poll-interval", "0.1"],
                {**env, "INFOVIEW_LOG_LEVEL": "INFO"},
                worker_log,
            )
            processes["worker"] = worker
            wait_healthy(a)
            wait_healthy(b)
            wait_for_log(worker, worker_log, "webhook dispatcher started")
            yield Cluster(a, b, worker_log, url, engine, receiver, redis_ok)
        finally:
            for process in processes.values():  # all at once: each takes a while to stop
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
            codes = {name: reap(process) for name, process in processes.items()}
            engine.dispose()
            if redis_ok:
                asyncio.run(_forget_counters(prefix))
        # uvicorn re-raises the SIGTERM it handled, after its graceful shutdown.
        assert codes["a"] in (0, -signal.SIGTERM) and codes["b"] in (0, -signal.SIGTERM), codes
        assert codes["worker"] == 0, codes
        for log in (a.log, b.log, worker_log):
            assert logged_errors(log) == [], log.name


@dataclass
class Account:
    """A registered user: email, id, and the bearer headers (when logged in)."""

    email: str
    id: uuid.UUID
    headers: dict[str, str]


def sign_up(cluster: Cluster, *, log_in: bool = True) -> Account:
    """A new user, registered through A and logged in through B, each from a fresh address."""
    email = f"multi-{uuid.uuid4().hex[:12]}@example.com"
    with cluster.client(cluster.a, {"X-Forwarded-For": fresh_address()}) as http:
        r = http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201, r.text
        account = Account(email, uuid.UUID(r.json()["id"]), {})
    if log_in:
        with cluster.client(cluster.b, {"X-Forwarded-For": fresh_address()}) as http:
            r = http.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
            assert r.status_code == 200, r.text
        account.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return account


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json()


def contacts_named(cluster: Cluster, name: str) -> int:
    with Session(cluster.engine) as session:
        return session.exec(
            select(func.count()).select_from(Contact).where(col(Contact.full_name) == name)
        ).one()


def prepared_interview(http_a: httpx.Client, http_b: httpx.Client, name: str) -> str:
    """An interview walked to ``prepared``, every step alternating between A and B."""
    contact = ok(http_a.post("/api/v1/contacts", json={"full_name": name}), 201)
    interview = ok(
        http_b.post(
            "/api/v1/interviews", json={"contact_id": contact["id"], "scheduled_at": past(1)}
        ),
        201,
    )
    iid: str = interview["id"]
    letter = ok(
        http_a.post(
            "/api/v1/letters",
            json={
                "kind": "request",
                "recipient_id": contact["id"],
                "interview_id": iid,
                "subject": "A conversation about audit",
                "body": "Could I ask you about your work in audit?",
                "channel": "email",
            },
        ),
        201,
    )
    ok(http_b.post(f"/api/v1/letters/{letter['id']}/send"))
    ok(http_a.patch(f"/api/v1/interviews/{iid}/checklist", json=FULL_CHECKLIST))
    moved = ok(http_b.post(f"/api/v1/interviews/{iid}/transitions", json={"to": "prepared"}))
    assert moved["state"] == "prepared"
    return iid


def at_once(calls: list[Any]) -> list[httpx.Response]:
    """Run the calls (each ``(client, method, url, kwargs)``) simultaneously."""
    barrier = threading.Barrier(len(calls))
    for http, *_ in calls:  # connect first, so the requests leave together
        http.get("/healthz")

    def run(call: Any) -> httpx.Response:
        http, method, url, kwargs = call
        barrier.wait()
        response: httpx.Response = http.request(method, url, **kwargs)
        return response

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


class TestBothProcesses:
    def test_writes_through_either_process_are_seen_by_the_other(self, cluster: Cluster) -> None:
        headers = sign_up(cluster).headers
        with cluster.client(cluster.a, headers) as a, cluster.client(cluster.b, headers) as b:
            contact = ok(a.post("/api/v1/contacts", json={"full_name": "Ana Across"}), 201)
            assert ok(b.get(f"/api/v1/contacts/{contact['id']}")) == contact
            assert [c["id"] for c in ok(b.get("/api/v1/contacts"))["data"]] == [contact["id"]]

            iid = prepared_interview(a, b, "Ben Between")
            assert ok(a.get(f"/api/v1/interviews/{iid}"))["state"] == "prepared"
            assert ok(b.get(f"/api/v1/interviews/{iid}/checklist"))["complete"] is True

            held = ok(a.post(f"/api/v1/interviews/{iid}/transitions", json={"to": "held"}))
            assert ok(b.get(f"/api/v1/interviews/{iid}")) == held
            assert [i["id"] for i in ok(b.get("/api/v1/interviews"))["data"]] == [iid]
            events = ok(b.get(f"/api/v1/interviews/{iid}/events"))["data"]
            assert [(e["from_state"], e["to_state"]) for e in events] == [
                ("request", "prepared"),
                ("prepared", "held"),
            ]


class TestIdempotencyAcrossProcesses:
    def test_a_key_used_on_one_process_replays_on_the_other(self, cluster: Cluster) -> None:
        headers = sign_up(cluster).headers
        key = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
        body = {"full_name": f"Ida {uuid.uuid4().hex[:8]}"}
        with cluster.client(cluster.a, headers) as a, cluster.client(cluster.b, headers) as b:
            first = a.post("/api/v1/contacts", json=body, headers=key)
            created = ok(first, 201)
            assert "idempotent-replayed" not in first.headers
            again = b.post("/api/v1/contacts", json=body, headers=key)
            assert ok(again, 201) == created
            assert again.headers["idempotent-replayed"] == "true"
            assert again.headers["location"] == first.headers["location"]
            assert again.headers["etag"] == first.headers["etag"]
            other = b.post("/api/v1/contacts", json={"full_name": "Someone else"}, headers=key)
            assert_problem(other, 422, "idempotency_key_reused")
        assert contacts_named(cluster, body["full_name"]) == 1

    def test_one_key_sent_to_both_at_once_runs_once(self, cluster: Cluster) -> None:
        headers = sign_up(cluster).headers
        with cluster.client(cluster.a, headers) as a, cluster.client(cluster.b, headers) as b:
            for _ in range(5):
                key = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
                body = {"full_name": f"Iris {uuid.uuid4().hex[:8]}"}
                responses = at_once(
                    [
                        (http, "POST", "/api/v1/contacts", {"json": body, "headers": key})
                        for http in (a, b)
                    ]
                )
                fresh = [
                    r
                    for r in responses
                    if r.status_code == 201 and "idempotent-replayed" not in r.headers
                ]
                assert len(fresh) == 1, [(r.status_code, r.headers, r.text) for r in responses]
                [other] = [r for r in responses if r is not fresh[0]]
                if other.status_code == 201:
                    assert other.headers["idempotent-replayed"] == "true"
                    assert other.json() == fresh[0].json()
                else:
                    assert_problem(other, 409, "idempotency_in_progress")
                    assert other.headers["retry-after"] == "1"
                assert contacts_named(cluster, body["full_name"]) == 1
                # Once the first has answered, a retry on either process replays it.
                for http in (a, b):
                    retry = http.post("/api/v1/contacts", json=body, headers=key)
                    assert ok(retry, 201) == fresh[0].json()
                    assert retry.headers["idempotent-replayed"] == "true"


class TestRateLimitAcrossProcesses:
    def test_token_attempts_on_both_processes_share_one_counter(self, cluster: Cluster) -> None:
        if not cluster.redis_ok:
            pytest.skip(f"Redis at {REDIS_URL} is unreachable (set INFOVIEW_TEST_REDIS_URL)")
        email = sign_up(cluster, log_in=False).email
        address = {"X-Forwarded-For": fresh_address()}
        form = {"username": email, "password": PASSWORD}
        with cluster.client(cluster.a, address) as a, cluster.client(cluster.b, address) as b:
            for attempt in range(AUTH_LIMIT):
                http = (a, b)[attempt % 2]
                r = http.post("/api/v1/auth/token", data=form)
                assert r.status_code == 200, (attempt, r.text)
            for http in (a, b):  # the sixth attempt and after, on either process
                r = http.post("/api/v1/auth/token", data=form)
                assert_problem(r, 429)
                assert int(r.headers["retry-after"]) >= 1
                assert f'"auth-address";q={AUTH_LIMIT};w=60' in r.headers["ratelimit-policy"]
                assert '"auth-address";r=0;' in r.headers["ratelimit"]


class TestWorkflowAcrossProcesses:
    def test_simultaneous_moves_on_both_processes_one_wins(self, cluster: Cluster) -> None:
        headers = sign_up(cluster).headers
        with (
            cluster.client(cluster.a, headers) as a,
            cluster.client(cluster.b, headers) as b,
            cluster.client(cluster.a, headers) as a2,
            cluster.client(cluster.b, headers) as b2,
        ):
            for round_ in range(2):
                iid = prepared_interview(a, b, f"Rae Race {round_}")
                url = f"/api/v1/interviews/{iid}/transitions"
                cancel = {"json": {"to": "cancelled", "reason": "They changed jobs."}}
                hold = {"json": {"to": "held"}}
                responses = at_once(
                    [
                        (a, "POST", url, hold),
                        (b, "POST", url, hold),
                        (a2, "POST", url, cancel),
                        (b2, "POST", url, cancel),
                    ]
                )
                statuses = Counter(r.status_code for r in responses)
                assert statuses == {200: 1, 409: 3}, [r.text for r in responses]
                [winner] = [r.json() for r in responses if r.status_code == 200]
                for r in responses:
                    if r.status_code == 409:
                        problem = assert_problem(r, 409, "transition_refused")
                        assert problem["current_state"] == winner["state"]
                stored = ok(b.get(f"/api/v1/interviews/{iid}"))
                assert stored["state"] == winner["state"]
                events = ok(a.get(f"/api/v1/interviews/{iid}/events"))["data"]
                assert [(e["from_state"], e["to_state"]) for e in events] == [
                    ("request", "prepared"),
                    ("prepared", winner["state"]),
                ]
                with Session(cluster.engine) as session:
                    count = session.exec(
                        select(func.count())
                        .select_from(InterviewEvent)
                        .where(col(InterviewEvent.interview_id) == uuid.UUID(iid))
                    ).one()
                assert count == 2


class TestWebhooksAcrossProcesses:
    def test_events_from_both_processes_are_delivered_once_by_the_worker(
        self, cluster: Cluster
    ) -> None:
        receiver = cluster.receiver
        user = sign_up(cluster)
        headers = user.headers
        with cluster.client(cluster.a, headers) as a, cluster.client(cluster.b, headers) as b:
            subscription = ok(
                b.post("/api/v1/webhooks", json={"url": receiver.url(), "event_types": ALL_EVENTS}),
                201,
            )
            receiver.secrets.append(subscription["secret"])
            referrer = ok(a.post("/api/v1/contacts", json={"full_name": "Rita Referrer"}), 201)
            ok(b.patch(f"/api/v1/contacts/{referrer['id']}", json={"organization": "Acme"}))
            iid = prepared_interview(a, b, "Walt Webhook")  # events on both processes
            contact_id = ok(a.get(f"/api/v1/interviews/{iid}"))["contact_id"]
            ok(
                b.post(
                    "/api/v1/referrals",
                    json={
                        "referrer_id": referrer["id"],
                        "referred_id": contact_id,
                        "relationship": "friend",
                    },
                ),
                201,
            )
            ok(a.post(f"/api/v1/interviews/{iid}/transitions", json={"to": "held"}))

        with Session(cluster.engine) as session:
            events = session.exec(
                select(OutboxEvent).where(col(OutboxEvent.owner_id) == user.id)
            ).all()
            outbox = {str(e.id): e for e in events}
        types = Counter(json.loads(e.payload)["type"] for e in outbox.values())
        assert types == {
            "contact.created": 2,
            "contact.updated": 1,
            "interview.created": 1,
            "letter.sent": 1,
            "interview.state_changed": 2,
            "referral.created": 1,
        }, types

        got = receiver.wait_for(len(outbox), timeout=TIMEOUT)
        assert len(got) >= len(outbox)
        wait_until_settled(cluster, set(outbox))
        time.sleep(1.0)  # room for a second delivery to show up, if there were one
        assert receiver.ids() == Counter(dict.fromkeys(outbox, 1))
        for received in receiver.requests():
            assert received.verified, received.error
            assert received.payload == json.loads(outbox[received.webhook_id].payload)
        attempts = cluster.worker_log.read_text().count("webhook attempt")
        assert attempts == len(outbox)  # the worker made them all, the API processes none


def wait_until_settled(cluster: Cluster, event_ids: set[str]) -> None:
    """Wait until every delivery of these events has succeeded (its outcome recorded)."""
    ids = [uuid.UUID(i) for i in event_ids]
    deadline = time.monotonic() + TIMEOUT
    while True:
        with Session(cluster.engine) as session:
            rows = session.exec(
                select(WebhookDelivery).where(col(WebhookDelivery.event_id).in_(ids))
            ).all()
        if len(rows) == len(ids) and all(row.status == "succeeded" for row in rows):
            assert all(row.attempts == 1 for row in rows), [(r.status, r.attempts) for r in rows]
            return
        assert time.monotonic() < deadline, [(r.event_id, r.status, r.last_error) for r in rows]
        time.sleep(0.1)
