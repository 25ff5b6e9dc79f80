"""Rate limiting: fixed-window counters, in memory for one process or in Redis for several.

A window opens at a key's first hit and lasts ``policy.window`` seconds; every hit in it counts,
refused ones included, so hammering does not pay off. Both backends keep exactly these
semantics, so a test against one describes the other.

The Redis backend does all its keys in one atomic Lua script (one round trip per request).
When Redis cannot be reached it fails open: requests pass without limits, a warning is logged
once per outage, and Redis is not tried again for a few seconds so a dead server does not add
its timeout to every request.

The Redis client is asyncio's: the event loop never waits on the network. Its connections
belong to the loop that opened them, so a limiter used from another loop (a test's second
client, a worker thread's loop) opens a client of its own there.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio
from redis.commands.core import AsyncScript

from app.kit.config import Settings

log = logging.getLogger("infoview.ratelimit")


@dataclass(frozen=True, slots=True)
class Policy:
    """At most ``limit`` hits per key in a window of ``window`` seconds."""

    name: str
    limit: int
    window: int = 60

    def header(self) -> str:
        """This policy as an item of the ``RateLimit-Policy`` header."""
        return f'"{self.name}";q={self.limit};w={self.window}'


@dataclass(frozen=True, slots=True)
class Usage:
    """Where one key stands in its window after a hit."""

    policy: Policy
    count: int
    reset: float

    @property
    def allowed(self) -> bool:
        return self.count <= self.policy.limit

    @property
    def remaining(self) -> int:
        return max(0, self.policy.limit - self.count)

    @property
    def reset_seconds(self) -> int:
        """Whole seconds until the window ends, 1 to the window (what ``Retry-After`` carries).

        ``(now + window) - now`` can come out a hair over the window in floating point, which
        rounded up would promise a 61st second.
        """
        return min(self.policy.window, max(1, math.ceil(round(self.reset, 6))))

    def header(self) -> str:
        """This usage as an item of the ``RateLimit`` header."""
        return f'"{self.policy.name}";r={self.remaining};t={self.reset_seconds}'


Hit = tuple[Policy, str]


def hashed(value: str) -> str:
    """A stable, non-reversible key part, so personal data (emails) never sits in a key."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class RateLimiter:
    """Count hits; the base class of both backends."""

    async def hit(self, hits: Sequence[Hit]) -> list[Usage] | None:
        """Count one hit on every ``(policy, key)``; ``None`` when the counts are unknown."""
        raise NotImplementedError

    async def reset(self) -> None:
        """Forget every counter (tests)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release connections."""


class MemoryRateLimiter(RateLimiter):
    """Counters in this process's memory: right for one process, wrong for several."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._counters: dict[str, tuple[float, int]] = {}
        self._next_sweep = 0.0

    async def hit(self, hits: Sequence[Hit]) -> list[Usage]:
        now = self._clock()
        usages = []
        with self._lock:
            if now >= self._next_sweep:
                self._sweep(now)
            for policy, key in hits:
                name = f"{policy.name}:{key}"
                expires_at, count = self._counters.get(name, (0.0, 0))
                if expires_at <= now:
                    expires_at, count = now + policy.window, 0
                count += 1
                self._counters[name] = (expires_at, count)
                usages.append(Usage(policy, count, expires_at - now))
        return usages

    def _sweep(self, now: float) -> None:
        """Drop expired windows, so memory stays proportional to the callers of the last minute."""
        self._counters = {k: v for k, v in self._counters.items() if v[0] > now}
        self._next_sweep = now + 60

    async def reset(self) -> None:
        with self._lock:
            self._counters.clear()


# One INCR per key; a key without a TTL (new, or left behind by an old bug) gets the window.
_LUA_HIT = """
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    ttl = tonumber(ARGV[i])
    redis.call('PEXPIRE', key, ttl)
  end
  out[2 * i - 1] = n
  out[2 * i] = ttl
end
return out
"""


class RedisRateLimiter(RateLimiter):
    """Counters in Redis, shared by every API process that uses the same URL and prefix."""

    RETRY_AFTER_FAILURE = 5.0

    def __init__(
        self,
        url: str,
        prefix: str = "infoview:ratelimit:",
        *,
        timeout: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.prefix = prefix
        self._clock = clock
        self._url = url
        self._timeout = timeout
        # Clients are made on first use in each event loop: building the app never needs Redis.
        self._clients: dict[asyncio.AbstractEventLoop, tuple[redis.asyncio.Redis, AsyncScript]]
        self._clients = {}
        self._where = _describe(url)
        self._down_until = 0.0
        self._down = False

    def _client(self) -> tuple[redis.asyncio.Redis, AsyncScript]:
        loop = asyncio.get_running_loop()
        found = self._clients.get(loop)
        if found is None:
            for other in [other for other in self._clients if other.is_closed()]:
                del self._clients[other]
            client = redis.asyncio.Redis.from_url(
                self._url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout
            )
            found = self._clients[loop] = (client, client.register_script(_LUA_HIT))
        return found

    async def hit(self, hits: Sequence[Hit]) -> list[Usage] | None:
        if not hits:
            return []
        now = self._clock()
        if now < self._down_until:
            return None
        keys = [f"{self.prefix}{policy.name}:{key}" for policy, key in hits]
        windows = [policy.window * 1000 for policy, _ in hits]
        _, script = self._client()
        try:
            raw: Any = await script(keys=keys, args=windows)
        except (redis.RedisError, OSError) as exc:
            self._down_until = now + self.RETRY_AFTER_FAILURE
            if not self._down:
                self._down = True
                log.warning(
                    "rate limits not enforced: Redis is unreachable",
                    extra={"redis": self._where, "error": str(exc)},
                )
            return None
        if self._down:
            self._down = False
            log.info("rate limits enforced again: Redis is back", extra={"redis": self._where})
        return [
            Usage(policy, int(raw[2 * i]), int(raw[2 * i + 1]) / 1000)
            for i, (policy, _) in enumerate(hits)
        ]

    async def reset(self) -> None:
        """Delete this limiter's keys (only those under its prefix)."""
        client, _ = self._client()
        async for key in client.scan_iter(match=f"{self.prefix}*", count=500):
            await client.delete(key)

    async def close(self) -> None:
        """Close the clients of this loop and of loops that are gone."""
        current = asyncio.get_running_loop()
        for loop, (client, _) in list(self._clients.items()):
            if loop is current or loop.is_closed():
                del self._clients[loop]
                if loop is current:
                    await client.aclose()


def _describe(url: str) -> str:
    """The Redis address without credentials, for log lines."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}:{parts.port or 6379}{parts.path}"


def make_ratelimiter(settings: Settings) -> RateLimiter:
    """Redis when ``redis_url`` is set, so several processes share counters; memory otherwise."""
    if settings.redis_url:
        return RedisRateLimiter(settings.redis_url, settings.rate_limit_prefix)
    return MemoryRateLimiter()
