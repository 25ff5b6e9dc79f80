"""Rate limits: auth endpoints per address and per email, writes per user, memory and Redis.

TestClient always calls from the address ``testclient``; a second client on the same app with
another ``client=(host, port)`` plays a second address.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import ExitStack
from typing import Any, TypeVar

import pytest
import redis
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from app.accounts.deps import CurrentUser
from app.kit.config import Settings
from app.kit.rate_limiter import (
    MemoryRateLimiter,
    Policy,
    RateLimiter,
    RedisRateLimiter,
    Usage,
    hashed,
)
from app.main import create_app
from tests.factories import PASSWORD, assert_problem, register

REDIS_URL = os.environ.get("INFOVIEW_TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(
    not REDIS_URL, reason="INFOVIEW_TEST_REDIS_URL is not set (CI sets redis://127.0.0.1:6379/0)"
)
OTHER_ADDRESS = ("198.51.100.7", 40000)
RATELIMIT = re.compile(r'^"(?P<name>[a-z-]+)";r=(?P<r>\d+);t=(?P<t>\d+)$')

MakeClient = Callable[..., TestClient]

T = TypeVar("T")


def run(awaitable: Coroutine[Any, Any, T]) -> T:
    """Run one call of the (asynchronous) limiter API to completion."""
    return asyncio.run(awaitable)


async def reset_and_close(limiter: RateLimiter) -> None:
    await limiter.reset()
    await limiter.close()


def _add_write_probe(app: FastAPI) -> None:
    """A write route and a read route behind ``current_user``, like every entity route."""
    router = APIRouter()

    @router.post("/api/v1/_probe", operation_id="probe-write")
    async def probe_write(user: CurrentUser) -> dict[str, str]:
        """Write something."""
        return {"id": str(user.id)}

    @router.get("/api/v1/_probe", operation_id="probe-read")
    async def probe_read(user: CurrentUser) -> dict[str, str]:
        """Read something."""
        return {"id": str(user.id)}

    app.include_router(router)


@pytest.fixture
def make_client(settings: Settings) -> Iterator[MakeClient]:
    """Build an app with some settings changed (small limits), and a client for it."""
    apps: list[FastAPI] = []
    with ExitStack() as stack:

        def make(**overrides: Any) -> TestClient:
            app = create_app(settings.model_copy(update=overrides))
            _add_write_probe(app)
            apps.append(app)
            return stack.enter_context(TestClient(app, raise_server_exceptions=False))

        yield make
    for app in apps:
        app.state.engine.dispose()


def from_address(client: TestClient, address: tuple[str, int] = OTHER_ADDRESS) -> TestClient:
    """Another client on the same app, calling from another address."""
    return TestClient(client.app, client=address, raise_server_exceptions=False)


def login_attempt(client: TestClient, email: str, password: str = "wrong password") -> Any:
    return client.post("/api/v1/auth/token", data={"username": email, "password": password})


def refresh_attempt(client: TestClient) -> Any:
    return client.post("/api/v1/auth/refresh", json={"refresh_token": "not-a-token"})


def new_email() -> str:
    return f"rl-{uuid.uuid4().hex[:10]}@example.com"


def ratelimit_items(response: Any) -> dict[str, tuple[int, int]]:
    """The ``RateLimit`` header as {policy: (remaining, seconds to reset)}."""
    items = {}
    for item in response.headers["RateLimit"].split(", "):
        match = RATELIMIT.match(item)
        assert match, item
        items[match["name"]] = (int(match["r"]), int(match["t"]))
    return items


def assert_rate_limited(response: Any, policy: str) -> None:
    """A 429 problem with Retry-After and the IETF headers naming the exhausted policy."""
    assert_problem(response, 429, "rate_limited")
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    items = ratelimit_items(response)
    assert items[policy] == (0, retry_after)
    assert f'"{policy}";q=' in response.headers["RateLimit-Policy"]


class TestLimiterBackends:
    """The counters themselves, with a clock the test moves."""

    def test_a_window_counts_hits_and_then_starts_over(self) -> None:
        now = [1000.0]
        limiter = MemoryRateLimiter(clock=lambda: now[0])
        policy = Policy("auth-address", limit=2, window=60)
        first = run(limiter.hit([(policy, "a")]))[0]
        assert (first.allowed, first.remaining, first.reset_seconds) == (True, 1, 60)
        now[0] += 20
        second = run(limiter.hit([(policy, "a")]))[0]
        assert (second.allowed, second.remaining, second.reset_seconds) == (True, 0, 40)
        third = run(limiter.hit([(policy, "a")]))[0]
        assert not third.allowed
        assert run(limiter.hit([(policy, "b")]))[0].allowed  # another key has its own window
        now[0] += 40
        assert run(limiter.hit([(policy, "a")]))[0].count == 1

    def test_policies_count_apart_and_old_windows_are_swept(self) -> None:
        now = [0.0]
        limiter = MemoryRateLimiter(clock=lambda: now[0])
        by_address, by_email = Policy("auth-address", 1), Policy("auth-email", 1)
        usages = run(limiter.hit([(by_address, "k"), (by_email, "k")]))
        assert [u.count for u in usages] == [1, 1]
        now[0] += 61
        run(limiter.hit([(by_address, "other")]))
        assert len(limiter._counters) == 1

    def test_headers_follow_the_ietf_draft(self) -> None:
        policy = Policy("auth", limit=10, window=60)
        usage = Usage(policy, count=12, reset=36.2)
        assert policy.header() == '"auth";q=10;w=60'
        assert usage.header() == '"auth";r=0;t=37'

    def test_an_unreachable_redis_fails_open_and_says_so_once(self) -> None:
        records: list[logging.LogRecord] = []
        handler = logging.Handler()
        handler.emit = records.append  # type: ignore[method-assign]
        logger = logging.getLogger("infoview.ratelimit")
        logger.addHandler(handler)
        try:
            limiter = RedisRateLimiter("redis://127.0.0.1:1/0", "x:", timeout=0.2)
            policy = Policy("auth-address", 1)
            assert run(limiter.hit([(policy, "a")])) is None
            assert run(limiter.hit([(policy, "a")])) is None  # not retried right away
        finally:
            logger.removeHandler(handler)
        assert [r.getMessage() for r in records] == [
            "rate limits not enforced: Redis is unreachable"
        ]
        assert "127.0.0.1:1" in records[0].__dict__["redis"]


class TestTokenLimits:
    """``POST /api/v1/auth/token``: per address and per email."""

    def test_the_eleventh_attempt_in_a_minute_from_one_address_is_refused(
        self, make_client: MakeClient
    ) -> None:
        client = make_client(rate_limit_auth_per_minute=10)  # the default of production
        for _ in range(10):
            r = login_attempt(client, new_email())
            assert_problem(r, 401, "invalid_credentials")
        r = login_attempt(client, new_email())
        assert_rate_limited(r, "auth-address")
        assert '"auth-address";q=10;w=60' in r.headers["RateLimit-Policy"]
        # Another address is not affected.
        assert_problem(login_attempt(from_address(client), new_email()), 401)

    def test_the_limit_per_email_holds_across_addresses(self, make_client: MakeClient) -> None:
        client = make_client(rate_limit_auth_per_minute=3)
        target = new_email()
        for _ in range(3):
            assert_problem(login_attempt(client, target), 401)
        elsewhere = from_address(client)
        r = login_attempt(elsewhere, target.upper())  # emails are compared case-insensitively
        assert_rate_limited(r, "auth-email")
        assert ratelimit_items(r)["auth-address"] == (2, 60)
        assert_problem(login_attempt(elsewhere, new_email()), 401)

    def test_a_successful_login_carries_where_the_caller_stands(
        self, make_client: MakeClient
    ) -> None:
        client = make_client(rate_limit_auth_per_minute=5)
        user = register(client)
        r = login_attempt(client, user.email, PASSWORD)
        assert r.status_code == 200, r.text
        assert r.headers["RateLimit-Policy"] == '"auth-address";q=5;w=60, "auth-email";q=5;w=60'
        remaining = {name: left for name, (left, _) in ratelimit_items(r).items()}
        # register() logged in once already.
        assert remaining == {"auth-address": 3, "auth-email": 3}


class TestRegisterLimits:
    """``POST /api/v1/auth/register``: per address and per email (from the JSON body)."""

    def test_per_address(self, make_client: MakeClient) -> None:
        client = make_client(rate_limit_auth_per_minute=2)
        for _ in range(2):
            r = client.post(
                "/api/v1/auth/register", json={"email": new_email(), "password": PASSWORD}
            )
            assert r.status_code == 201, r.text
        r = client.post("/api/v1/auth/register", json={"email": new_email(), "password": PASSWORD})
        assert_rate_limited(r, "auth-address")

    def test_per_email(self, make_client: MakeClient) -> None:
        client = make_client(rate_limit_auth_per_minute=2)
        email = new_email()
        body = {"email": email, "password": PASSWORD}
        assert client.post("/api/v1/auth/register", json=body).status_code == 201
        assert_problem(client.post("/api/v1/auth/register", json=body), 409, "email_taken")
        r = from_address(client).post("/api/v1/auth/register", json=body)
        assert_rate_limited(r, "auth-email")

    def test_an_invalid_body_still_counts_against_the_address(
        self, make_client: MakeClient
    ) -> None:
        client = make_client(rate_limit_auth_per_minute=1)
        assert_problem(client.post("/api/v1/auth/register", content=b"{nope"), 422)
        r = client.post("/api/v1/auth/register", json={"email": new_email(), "password": PASSWORD})
        assert_rate_limited(r, "auth-address")


class TestRefreshLimits:
    """``POST /api/v1/auth/refresh``: per address only."""

    def test_per_address(self, make_client: MakeClient) -> None:
        client = make_client(rate_limit_auth_per_minute=2)
        for _ in range(2):
            assert_problem(refresh_attempt(client), 401)
        r = refresh_attempt(client)
        assert_rate_limited(r, "auth-address")
        assert "auth-email" not in r.headers["RateLimit-Policy"]
        assert_problem(refresh_attempt(from_address(client)), 401)


class TestWriteLimits:
    """Writes (non-safe methods) per user, enforced where the caller is authenticated."""

    def test_writes_beyond_the_limit_are_refused_reads_are_not(
        self, make_client: MakeClient
    ) -> None:
        client = make_client(rate_limit_writes_per_minute=3)
        alice, bob = register(client), register(client)
        for left in (2, 1, 0):
            r = client.post("/api/v1/_probe", headers=alice.headers)
            assert r.status_code == 200, r.text
            assert ratelimit_items(r)["writes"][0] == left
        assert_rate_limited(client.post("/api/v1/_probe", headers=alice.headers), "writes")
        assert r.headers["RateLimit-Policy"] == '"writes";q=3;w=60'
        for _ in range(5):
            assert client.get("/api/v1/_probe", headers=alice.headers).status_code == 200
        # The limit is per user, not per address.
        assert client.post("/api/v1/_probe", headers=bob.headers).status_code == 200

    def test_an_unauthenticated_write_is_a_401_not_a_count(self, make_client: MakeClient) -> None:
        client = make_client(rate_limit_writes_per_minute=1)
        for _ in range(3):
            assert_problem(client.post("/api/v1/_probe"), 401)


class TestRedisBackend:
    """Counters in Redis are shared by every process (here: app) using the same prefix."""

    @needs_redis
    def test_two_apps_share_one_counter(self, make_client: MakeClient) -> None:
        prefix = f"infoview-test:{uuid.uuid4().hex}:"
        shared = {"redis_url": REDIS_URL, "rate_limit_prefix": prefix}
        first = make_client(rate_limit_auth_per_minute=3, **shared)
        second = make_client(rate_limit_auth_per_minute=3, **shared)
        try:
            assert_problem(refresh_attempt(first), 401)
            assert_problem(refresh_attempt(second), 401)
            assert_problem(refresh_attempt(first), 401)
            assert_rate_limited(refresh_attempt(second), "auth-address")
            assert_rate_limited(refresh_attempt(first), "auth-address")
            # Another prefix is another deployment, with counters of its own.
            third = make_client(
                rate_limit_auth_per_minute=3,
                redis_url=REDIS_URL,
                rate_limit_prefix=prefix + "other:",
            )
            assert_problem(refresh_attempt(third), 401)
        finally:
            run(reset_and_close(first.app.state.ratelimiter))  # type: ignore[attr-defined]

    @needs_redis
    def test_keys_expire_with_the_window_and_hold_no_email(self) -> None:
        assert REDIS_URL
        prefix = f"infoview-test:{uuid.uuid4().hex}:"
        limiter = RedisRateLimiter(REDIS_URL, prefix)
        try:
            policy = Policy("auth-email", limit=2, window=60)
            key = f"token:{hashed('someone@example.com')}"
            counts = [run(limiter.hit([(policy, key)])) for _ in range(3)]
            assert [u[0].count for u in counts if u] == [1, 2, 3]
            assert not counts[-1][0].allowed  # type: ignore[index]
            server = redis.Redis.from_url(REDIS_URL)
            keys = [k.decode() for k in server.scan_iter(match=f"{prefix}*")]
            assert keys == [f"{prefix}auth-email:{key}"]
            assert "someone" not in keys[0]
            assert 0 < server.pttl(keys[0]) <= 60_000
            server.close()
        finally:
            run(reset_and_close(limiter))

    def test_an_app_whose_redis_is_down_still_answers(self, make_client: MakeClient) -> None:
        client = make_client(rate_limit_auth_per_minute=1, redis_url="redis://127.0.0.1:1/0")
        for _ in range(3):
            r = login_attempt(client, new_email())
            assert_problem(r, 401)
            assert "RateLimit" not in r.headers


def test_the_auth_routes_declare_their_429_and_its_headers(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/auth/register", "/api/v1/auth/token", "/api/v1/auth/refresh"):
        declared = paths[path]["post"]["responses"]["429"]
        assert "application/problem+json" in declared["content"]
        assert set(declared["headers"]) == {"Retry-After", "RateLimit-Policy", "RateLimit"}


def test_the_reset_never_promises_more_than_the_window() -> None:
    """``(now + window) - now`` can exceed the window by a hair in floating point."""
    from app.kit.rate_limiter import Policy, Usage

    policy = Policy("writes", 10)
    now = 32763.82026467779  # a monotonic reading for which the subtraction overshoots
    assert (now + policy.window) - now > policy.window
    assert Usage(policy, 1, (now + policy.window) - now).reset_seconds == policy.window
    assert Usage(policy, 1, 59.2).reset_seconds == 60
    assert Usage(policy, 11, 0.0).reset_seconds == 1
