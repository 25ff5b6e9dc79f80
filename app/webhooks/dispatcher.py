"""The dispatcher: turns outbox events into signed webhook deliveries, and retries them.

The steps:

1. **Fan out** events not yet dispatched into one ``webhook_delivery`` per active
   subscription of the owner that asked for the event type. A subscription that already has
   ``MAX_PENDING_DELIVERIES`` to attempt gets no more: the event is dropped for it and counted
   (``dropped_events``), so no import can queue without bound.
2. **Claim** due deliveries fairly: at most one per subscription, none of a subscription with
   an attempt in flight, owners taking turns (``DeliveryRepository.due_ids``). In one short
   transaction, take a lease on them (``locked_until``) and count the attempt. On PostgreSQL
   the candidates are selected ``FOR UPDATE SKIP LOCKED``, so concurrent workers claim disjoint
   rows; the claiming UPDATE re-checks the lease, which also keeps a second process on SQLite
   from taking a claimed row.
3. **Send** outside any transaction: Standard Webhooks headers and signature, a hard
   deadline, no redirects, ``Accept-Encoding: identity``, to the address that was checked just
   before; at most ``_SNIPPET_BYTES`` of an error body are read, never decoded.
4. **Record** each outcome on its own, fenced by the attempt number, so a worker whose lease
   ran out cannot overwrite the outcome of the worker that took over. Error text is cleaned
   (control characters replaced, length bounded) before it is stored, and one attempt that
   cannot be recorded never disturbs the others.

``run_forever`` keeps up to ``concurrency`` attempts in flight and claims again as soon as one
finishes, so a slow endpoint (up to ``webhook_timeout_seconds``) holds one slot, never a
batch: other subscriptions' deliveries go out meanwhile.

A worker killed mid-send leaves a lease that simply expires; the delivery is then retried.
Receivers should deduplicate on ``webhook-id`` as the specification says, since an attempt
whose response was lost is repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import unicodedata
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from math import floor
from typing import Protocol

import anyio
import httpx
from sqlalchemy import Engine
from sqlmodel import Session
from standardwebhooks.webhooks import Webhook

from app import __version__
from app.kit import secret_box
from app.kit.config import Settings
from app.kit.db import get_engine, new_id, utcnow
from app.kit.errors import AppError
from app.webhooks import urls
from app.webhooks.repository import DeliveryRepository, OutboxRepository, SubscriptionRepository
from app.webhooks.schemas import MAX_PENDING_DELIVERIES, DeliveryStatus, WebhookSubscription

log = logging.getLogger("infoview.webhooks")

_JITTER = 0.2
# The lease outlives the send's hard deadline by this much (database round trips, DNS).
_LEASE_MARGIN = timedelta(seconds=30)
_MAX_ERROR = 1000  # characters, the column's size
_SNIPPET_BYTES = 300  # of a receiver's error body; the rest is never read
# Bidirectional overrides would make a stored error read differently from what it says.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_UNSEALED = (
    "not sent: the signing secret cannot be opened with this server's secret key; "
    "rotate the webhook's secret"
)
# Delivered (or given-up) events and their log are kept this long.
LOG_RETENTION = timedelta(days=30)
MAINTENANCE_EVERY = 60.0


class StopEvent(Protocol):
    """``asyncio.Event`` or ``anyio.Event``: what ``run_forever`` waits on to stop."""

    def is_set(self) -> bool: ...

    async def wait(self) -> object: ...


@dataclass(frozen=True)
class Claim:
    """One delivery this worker holds the lease on, with what it needs to send it."""

    delivery_id: uuid.UUID
    attempt: int
    event_id: uuid.UUID
    subscription_id: uuid.UUID
    url: str
    secrets: tuple[str, ...]  # opened; empty when the stored ones do not open
    payload: str


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: a status code, or an error before any response."""

    status_code: int | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


def sign_headers(claim: Claim, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt; one ``v1,`` signature per live secret."""
    signatures = " ".join(
        Webhook(secret).sign(str(claim.event_id), at, claim.payload) for secret in claim.secrets
    )
    return {
        "webhook-id": str(claim.event_id),
        "webhook-timestamp": str(floor(at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        # A compressed error body could be a bomb: ask for the bytes as they are.
        "accept-encoding": "identity",
        "user-agent": f"Infoview-Webhooks/{__version__}",
    }


def clean_error(text: str) -> str:
    """Error text as stored in the delivery log: valid Unicode without control characters
    (PostgreSQL refuses NUL; the log is shown to people), at most ``_MAX_ERROR`` characters."""
    text = text[: _MAX_ERROR * 2].encode("utf-8", "replace").decode("utf-8")
    cleaned = "".join(
        " "
        if ch in "\t\n\r"
        else "\ufffd"
        if unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS
        else ch
        for ch in text
    ).strip()
    if len(cleaned) > _MAX_ERROR:
        cleaned = cleaned[: _MAX_ERROR - 1] + "\u2026"
    return cleaned


class Dispatcher:
    """Delivers the outbox. Blocking database steps are plain methods; sending is async."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine | None = None,
        *,
        batch_size: int = 50,
        fan_out_size: int = 500,
        concurrency: int = 10,
        poll_interval: float = 0.5,
        max_pending: int = MAX_PENDING_DELIVERIES,
    ) -> None:
        self.settings = settings
        self.engine = engine or get_engine(settings)
        self.batch_size = batch_size
        self.fan_out_size = fan_out_size
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.max_pending = max_pending
        self.timeout = settings.webhook_timeout_seconds
        self.lease = timedelta(seconds=self.timeout) + _LEASE_MARGIN
        self._last_maintenance = float("-inf")

    # --- database steps (blocking) ---------------------------------------------------------

    def fan_out(self) -> int:
        """Make the deliveries of undispatched events; return how many events were handled.

        A subscription with ``max_pending`` deliveries still to attempt gets none: the event
        is dropped for it and counted on it.
        """
        with Session(self.engine) as session:
            outbox, deliveries = OutboxRepository(session), DeliveryRepository(session)
            subscriptions = SubscriptionRepository(session)
            events = outbox.undispatched(self.fan_out_size)
            if not events:
                return 0
            by_owner: dict[uuid.UUID, list[WebhookSubscription]] = {}
            for subscription in subscriptions.active_of({event.owner_id for event in events}):
                by_owner.setdefault(subscription.owner_id, []).append(subscription)
            pending = Counter(
                deliveries.pending_counts([s.id for subs in by_owner.values() for s in subs])
            )
            dropped: Counter[uuid.UUID] = Counter()
            rows: list[dict[str, object]] = []
            now = utcnow()
            for event_id, owner_id, event_type, created_at in events:
                for subscription in by_owner.get(owner_id, ()):
                    # A subscription hears of what happens after it was made.
                    if event_type not in subscription.event_types or (
                        subscription.created_at > created_at
                    ):
                        continue
                    if pending[subscription.id] >= self.max_pending:
                        dropped[subscription.id] += 1
                        continue
                    pending[subscription.id] += 1
                    rows.append(
                        {
                            "id": new_id(),
                            "owner_id": owner_id,
                            "subscription_id": subscription.id,
                            "event_id": event_id,
                            "event_type": event_type,
                            "status": DeliveryStatus.PENDING.value,
                            "attempts": 0,
                            "next_attempt_at": now,
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
            deliveries.insert_many(rows)
            outbox.mark_dispatched([event[0] for event in events], now)
            for subscription_id, count in sorted(dropped.items()):
                subscriptions.count_dropped(subscription_id, count, now)
            session.commit()
        if dropped:
            log.warning(
                "webhook events dropped: queues full",
                extra={"dropped": {str(k): v for k, v in dropped.items()}},
            )
        return len(events)

    def claim(self, limit: int | None = None) -> list[Claim]:
        """Lease up to ``limit`` (``batch_size``) due deliveries, fairly, and count their
        attempt."""
        now = utcnow()
        with Session(self.engine, expire_on_commit=False) as session:
            deliveries = DeliveryRepository(session)
            ids = deliveries.due_ids(now, limit or self.batch_size)
            if not ids:
                session.rollback()
                return []
            attempts = deliveries.lease(ids, now, now + self.lease)
            rows = deliveries.to_send(list(attempts)) if attempts else []
            session.commit()
        claims = []
        for row in rows:
            delivery_id, event_id, subscription_id, url, secret, previous, expires, payload = row
            stored = (secret, previous) if previous and expires and expires > now else (secret,)
            try:
                live = tuple(
                    secret_box.open_(self.settings.secret_key, subscription_id, value)
                    for value in stored
                )
            except secret_box.SecretUnreadable:
                live = ()
            claims.append(
                Claim(
                    delivery_id=delivery_id,
                    attempt=attempts[delivery_id],
                    event_id=event_id,
                    subscription_id=subscription_id,
                    url=url,
                    secrets=live,
                    payload=payload,
                )
            )
        return claims

    def retry_delay(self, attempt: int) -> timedelta | None:
        """How long to wait after failed attempt number ``attempt``; ``None`` to give up.

        The schedule in the settings grows roughly exponentially; each wait is spread by
        ±20% so the retries of many deliveries that failed together do not arrive together.
        """
        schedule = self.settings.webhook_retry_schedule
        if attempt > len(schedule):
            return None
        base = float(schedule[attempt - 1])
        return timedelta(seconds=base * random.uniform(1 - _JITTER, 1 + _JITTER))

    def record(self, claim: Claim, outcome: Outcome, attempted_at: datetime) -> bool:
        """Write an attempt's outcome; ``False`` if the lease was lost to another worker."""
        now = utcnow()
        values: dict[str, object] = {
            "locked_until": None,
            "last_attempt_at": attempted_at,
            "last_status_code": outcome.status_code,
            "last_error": clean_error(outcome.error) if outcome.error else None,
            "updated_at": now,
        }
        if outcome.succeeded:
            values.update(
                status=DeliveryStatus.SUCCEEDED.value, succeeded_at=now, next_attempt_at=None
            )
        elif outcome.gone:
            values.update(status=DeliveryStatus.DEAD.value, next_attempt_at=None)
        else:
            delay = self.retry_delay(claim.attempt)
            if delay is None:
                values.update(status=DeliveryStatus.DEAD.value, next_attempt_at=None)
            else:
                values.update(status=DeliveryStatus.FAILED.value, next_attempt_at=now + delay)
        with Session(self.engine) as session:
            if not DeliveryRepository(session).record_attempt(
                claim.delivery_id, claim.attempt, values
            ):
                session.rollback()
                log.warning(
                    "webhook delivery lease lost; outcome dropped",
                    extra={"delivery_id": str(claim.delivery_id), "attempt": claim.attempt},
                )
                return False
            if outcome.gone:
                # The receiver said the endpoint is gone for good: stop sending to it.
                SubscriptionRepository(session).deactivate(
                    claim.subscription_id, "endpoint_gone", now
                )
            session.commit()
        log.info(
            "webhook attempt",
            extra={
                "delivery_id": str(claim.delivery_id),
                "event_id": str(claim.event_id),
                "attempt": claim.attempt,
                "status_code": outcome.status_code,
                "delivery_status": values["status"],
            },
        )
        return True

    def maintenance(self) -> None:
        """Housekeeping, about once a minute: expired idempotency keys, old delivery logs."""
        with Session(self.engine) as session:
            try:
                from app.idempotency import service as idempotency
            except ImportError:  # pragma: no cover - idempotency keys not installed
                pass
            else:
                idempotency.purge_expired(session, self.settings.idempotency_hours)
            OutboxRepository(session).purge_delivered(utcnow() - LOG_RETENTION)
            session.commit()

    # --- sending ---------------------------------------------------------------------------

    def client(self) -> httpx.AsyncClient:
        """The HTTP client for deliveries: no redirects, no proxies from the environment, and
        no connection reuse (each attempt connects to the address checked for it)."""
        return httpx.AsyncClient(
            timeout=self.timeout,
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=0),
        )

    async def send(self, client: httpx.AsyncClient, claim: Claim) -> tuple[Outcome, datetime]:
        """Make one attempt, within ``webhook_timeout_seconds`` all told; never raises."""
        attempted_at = utcnow()
        if not claim.secrets:
            return Outcome(error=_UNSEALED), attempted_at
        try:
            with anyio.fail_after(self.timeout):
                target = await anyio.to_thread.run_sync(
                    partial(
                        urls.delivery_target,
                        claim.url,
                        allow_private=self.settings.webhook_allow_private,
                    ),
                    abandon_on_cancel=True,
                )
                headers = {**sign_headers(claim, utcnow()), **target.headers}
                async with client.stream(
                    "POST",
                    target.url,
                    content=claim.payload.encode(),
                    headers=headers,
                    extensions=target.extensions,
                ) as response:
                    snippet = b"" if _body_unread(response) else await _read_snippet(response)
        except urls.UrlNotAllowed as exc:
            return Outcome(error=f"not sent: {exc}"), attempted_at
        except AppError as exc:  # a stored URL that no longer parses
            return Outcome(error=f"not sent: {exc.detail}"), attempted_at
        except TimeoutError:
            return Outcome(error=f"timed out after {self.timeout:g} s"), attempted_at
        except (httpx.HTTPError, OSError, ValueError) as exc:
            return Outcome(error=f"{type(exc).__name__}: {exc}".rstrip(": ")), attempted_at
        except Exception as exc:  # whatever else a hostile peer provokes is this attempt's failure
            log.exception("webhook attempt failed unexpectedly")
            return Outcome(error=f"not delivered: {type(exc).__name__}"), attempted_at
        return _outcome(response, snippet), attempted_at

    async def attempt(self, client: httpx.AsyncClient, claim: Claim) -> None:
        """Send one claimed delivery and record its outcome. Never raises: each delivery's
        outcome is its own, whatever happens to the others sent alongside it."""
        outcome, attempted_at = await self.send(client, claim)
        try:
            await anyio.to_thread.run_sync(self.record, claim, outcome, attempted_at)
        except Exception:
            log.exception(
                "webhook outcome not recorded; recording it without its error text",
                extra={"delivery_id": str(claim.delivery_id)},
            )
            bare = Outcome(status_code=outcome.status_code, error="(error text not stored)")
            try:
                await anyio.to_thread.run_sync(self.record, claim, bare, attempted_at)
            except Exception:
                # The lease expires and the delivery is attempted again.
                log.exception("webhook outcome not recorded")

    async def tick(self, client: httpx.AsyncClient) -> int:
        """One pass: fan out, claim, send, record. Returns how many attempts were made."""
        await anyio.to_thread.run_sync(self.fan_out)
        claims = await anyio.to_thread.run_sync(self.claim)
        if not claims:
            return 0
        limiter = anyio.CapacityLimiter(self.concurrency)

        async def limited(claim: Claim) -> None:
            async with limiter:
                await self.attempt(client, claim)

        async with anyio.create_task_group() as group:
            for claim in claims:
                group.start_soon(limited, claim)
        return len(claims)

    def run_once(self) -> int:
        """One pass from synchronous code (tests, scripts); returns how many were sent."""

        async def once() -> int:
            async with self.client() as client:
                return await self.tick(client)

        return anyio.run(once)

    async def run_forever(self, stop_event: StopEvent) -> None:
        """Deliver until ``stop_event`` is set. Errors are logged, never fatal.

        Up to ``concurrency`` attempts are in flight; whenever one finishes (or every
        ``poll_interval``), the outbox is fanned out and free slots are claimed again. On stop,
        the attempts in flight are finished.
        """
        # httpx logs every request URL at INFO; webhook URLs often carry tokens of their own.
        logging.getLogger("httpx").setLevel(max(logging.getLogger("httpx").level, logging.WARNING))
        log.info("webhook dispatcher started")
        in_flight = 0
        wake = anyio.Event()

        async def attempt(claim: Claim) -> None:
            nonlocal in_flight
            try:
                await self.attempt(client, claim)
            finally:
                in_flight -= 1
                wake.set()

        async def wake_on_stop() -> None:
            await stop_event.wait()
            wake.set()

        async with self.client() as client, anyio.create_task_group() as group:
            group.start_soon(wake_on_stop)
            while not stop_event.is_set():
                wake = anyio.Event()
                more = False
                try:
                    more = await anyio.to_thread.run_sync(self.fan_out) >= self.fan_out_size
                    free = self.concurrency - in_flight
                    if free > 0:
                        claims = await anyio.to_thread.run_sync(self.claim, free)
                        for claim in claims:
                            in_flight += 1
                            group.start_soon(attempt, claim)
                    now = anyio.current_time()
                    if now - self._last_maintenance >= MAINTENANCE_EVERY:
                        self._last_maintenance = now
                        await anyio.to_thread.run_sync(self.maintenance)
                except Exception:
                    log.exception("webhook dispatcher pass failed")
                if not more:
                    with anyio.move_on_after(self.poll_interval):
                        await wake.wait()
        log.info("webhook dispatcher stopped")


def _body_unread(response: httpx.Response) -> bool:
    """Whether the body is not worth reading: a success, a redirect, or an encoded body (the
    receiver ignored ``Accept-Encoding: identity``; it is never decompressed)."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    return response.status_code < 400 or encoding not in ("", "identity")


async def _read_snippet(response: httpx.Response) -> bytes:
    """The first ``_SNIPPET_BYTES`` of the body as sent; the rest is never read."""
    data = bytearray()
    async for chunk in response.aiter_raw():
        data += chunk[: _SNIPPET_BYTES - len(data)]
        if len(data) >= _SNIPPET_BYTES:
            break
    return bytes(data)


def _outcome(response: httpx.Response, snippet: bytes) -> Outcome:
    code = response.status_code
    if 200 <= code < 300:
        return Outcome(status_code=code)
    if 300 <= code < 400:
        location = response.headers.get("location", "")
        return Outcome(
            status_code=code, error=f"HTTP {code}: redirects are not followed ({location})"
        )
    encoding = response.headers.get("content-encoding", "identity").strip()
    if encoding.lower() not in ("", "identity"):
        return Outcome(status_code=code, error=f"HTTP {code} (a {encoding} body, not read)")
    text = snippet.decode("utf-8", "replace").strip()
    return Outcome(status_code=code, error=f"HTTP {code}" + (f": {text}" if text else ""))


@asynccontextmanager
async def running(dispatcher: Dispatcher, *, grace: float = 5.0) -> AsyncIterator[None]:
    """Run ``dispatcher`` in the background for the duration of the block (the app lifespan).

    On exit it is asked to stop and given ``grace`` seconds to finish the attempts in flight;
    an attempt cut short keeps its lease, which expires, and is then retried.
    """
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run_forever(stop), name="webhook-dispatcher")
    try:
        yield
    finally:
        stop.set()
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
