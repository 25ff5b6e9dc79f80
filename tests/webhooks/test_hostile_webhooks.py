"""Hostile receivers and hostile volumes: what a webhook endpoint (or its owner) can make the
dispatcher do, on both databases, through real HTTP receivers on 127.0.0.1.

- error bodies with NUL, control characters and invalid UTF-8 are stored cleaned and bounded,
  and never disturb the other deliveries sent alongside;
- a gzip bomb costs nothing: ``Accept-Encoding: identity``, and a bounded raw read;
- one slow endpoint never delays another account's deliveries: one attempt in flight per
  subscription, owners take turns when deliveries are claimed;
- a subscription's queue is capped: events beyond it are dropped and counted on it;
- internal targets (site-local ``fec0::/10`` too) are refused with one message that never
  tells what a name resolves to;
- signing secrets are sealed at rest with a key derived from the server's secret key.
"""

from __future__ import annotations

import gzip
import ipaddress
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import anyio
import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, insert, select, text, update
from sqlalchemy.dialects import postgresql
from sqlmodel import Session
from standardwebhooks.webhooks import Webhook

from app.kit import secret_box
from app.kit.config import Settings
from app.kit.db import utcnow
from app.kit.migrations import alembic_config
from app.main import create_app
from app.webhooks import urls
from app.webhooks.dispatcher import Dispatcher, clean_error
from app.webhooks.schemas import WebhookDelivery, WebhookSubscription
from tests.conftest import TEST_SECRET
from tests.factories import User, assert_problem, register
from tests.factories_contacts import create_contact
from tests.factories_webhooks import create_webhook, deliveries, dispatcher_for
from tests.webhook_receiver import Answer, Receiver

BASE = "/api/v1/webhooks"
FAST = {"webhook_retry_schedule": [0, 0, 1]}
# The two tables as they were before secrets were sealed (for the migration's test).
_WHEN = sa.DateTime(timezone=True)
USER = [("id", sa.Uuid()), ("email", sa.String()), ("password_hash", sa.String())]
USER += [("created_at", _WHEN), ("updated_at", _WHEN)]
HOOK = [("id", sa.Uuid()), ("owner_id", sa.Uuid()), ("url", sa.String())]
HOOK += [("event_types", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"))]
HOOK += [("active", sa.Boolean()), ("secret", sa.String()), ("previous_secret", sa.String())]
HOOK += [("version", sa.Integer()), ("created_at", _WHEN), ("updated_at", _WHEN)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


def engine_of(client: TestClient) -> object:
    return client.app.state.engine  # type: ignore[attr-defined]


def stored_subscription(client: TestClient, webhook_id: str) -> WebhookSubscription:
    with Session(engine_of(client)) as session:  # type: ignore[arg-type]
        row = session.get(WebhookSubscription, uuid.UUID(webhook_id))
        assert row is not None
        session.expunge(row)
        return row


def queued(client: TestClient, webhook_id: str) -> int:
    with Session(engine_of(client)) as session:  # type: ignore[arg-type]
        return int(
            session.execute(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.subscription_id == uuid.UUID(webhook_id))  # type: ignore[arg-type]
            ).scalar_one()
        )


@cache
def bomb() -> bytes:
    """64 MiB of zeros, gzipped to about 64 KiB."""
    return gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=1)


@contextmanager
def dispatching(dispatcher: Dispatcher) -> Iterator[None]:
    """``run_forever`` in a background thread for the duration of the block."""
    stop = threading.Event()

    async def main() -> None:
        stopped = anyio.Event()

        async def relay() -> None:
            while not stop.is_set():
                await anyio.sleep(0.02)
            stopped.set()

        async with anyio.create_task_group() as group:
            group.start_soon(relay)
            await dispatcher.run_forever(stopped)

    thread = threading.Thread(target=anyio.run, args=(main,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
        assert not thread.is_alive()


class TestHostileErrorBodies:
    HOSTILE = b"\x00boom\x01\x07\x1b[31m\x7f\xc2\x85\xe2\x80\xae\xff\xfe\xed\xa0\x80" + b"x" * 5000

    def test_nul_and_control_characters_are_stored_cleaned_and_the_batch_is_unharmed(
        self, client: TestClient, settings: Settings, receiver: Receiver
    ) -> None:
        hostile, fine = register(client), register(client)
        receiver.answers["/hostile"] = Answer(status=500, body=self.HOSTILE)
        bad = create_webhook(client, hostile, receiver.url("/hostile"), ["contact.created"])
        good = create_webhook(client, fine, receiver.url("/fine"), ["contact.created"], receiver)
        create_contact(client, hostile)
        create_contact(client, fine)

        dispatcher = dispatcher_for(client, settings, webhook_retry_schedule=[0, 0])
        assert dispatcher.run_once() == 2  # both in the same batch
        [failed] = deliveries(client, hostile, bad["id"])
        assert (failed["status"], failed["attempts"], failed["last_status_code"]) == (
            "failed",
            1,
            500,
        )
        error = failed["last_error"]
        assert error.startswith("HTTP 500: ") and "boom" in error
        assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in error)
        assert "\u202e" not in error and len(error) <= 1000

        # The other account's delivery was recorded once and is never sent again.
        [done] = deliveries(client, fine, good["id"])
        assert (done["status"], done["attempts"]) == ("succeeded", 1)
        while dispatcher.run_once():
            pass
        [once] = receiver.requests("/fine")
        assert once.verified
        assert len(receiver.requests("/hostile")) == 3
        [dead] = deliveries(client, hostile, bad["id"])
        assert (dead["status"], dead["attempts"]) == ("dead", 3)  # the schedule, not past it

    def test_error_text_is_cleaned_whatever_its_source(self) -> None:
        assert clean_error("a\x00b\tc\r\nd\udcff") == "a\ufffdb c  d?"
        long = clean_error("\x00" * 100_000)
        assert len(long) == 1000 and set(long) <= {"\ufffd", "\u2026"}

    def test_a_gzip_bomb_costs_nothing(
        self, client: TestClient, user_and_hook: tuple[User, dict[str, str]], settings: Settings
    ) -> None:
        user, webhook = user_and_hook
        create_contact(client, user)
        dispatcher = dispatcher_for(client, settings, **FAST)
        tracemalloc.start()
        try:
            started = time.monotonic()
            assert dispatcher.run_once() == 1
            elapsed = time.monotonic() - started
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        # Decompressed, the body would be 64 MiB: none of it was inflated.
        assert peak < 8 * 1024 * 1024, peak
        assert elapsed < 5
        [failed] = deliveries(client, user, webhook["id"])
        assert failed["last_status_code"] == 500
        assert failed["last_error"] == "HTTP 500 (a gzip body, not read)"

    @pytest.fixture
    def user_and_hook(
        self, client: TestClient, receiver: Receiver
    ) -> Iterator[tuple[User, dict[str, str]]]:
        receiver.default = Answer(status=500, headers={"content-encoding": "gzip"}, body=bomb())
        user = register(client)
        yield user, create_webhook(client, user, receiver.url(), receiver=receiver)
        [got] = receiver.requests()
        assert got.headers["accept-encoding"] == "identity"

    def test_a_long_plain_body_is_read_only_as_far_as_the_snippet(
        self, client: TestClient, settings: Settings, receiver: Receiver
    ) -> None:
        receiver.default = Answer(status=503, body=b"y" * (8 * 1024 * 1024))
        user = register(client)
        webhook = create_webhook(client, user, receiver.url(), receiver=receiver)
        create_contact(client, user)
        assert dispatcher_for(client, settings, **FAST).run_once() == 1
        [failed] = deliveries(client, user, webhook["id"])
        assert failed["last_error"] == "HTTP 503: " + "y" * 300


class TestFairness:
    def test_claims_take_one_per_subscription_and_owners_take_turns(
        self, client: TestClient, settings: Settings
    ) -> None:
        busy, quiet = register(client), register(client)
        busy_hooks = [
            create_webhook(client, busy, f"http://127.0.0.1:9/{n}", ["contact.created"])
            for n in range(3)
        ]
        quiet_hook = create_webhook(client, quiet, "http://127.0.0.1:9/q", ["contact.created"])
        for _ in range(5):
            create_contact(client, busy)
        create_contact(client, quiet)  # the newest event of all
        dispatcher = dispatcher_for(client, settings)
        dispatcher.fan_out()

        # Two slots: the quiet owner gets one though the busy one has 15 due before it.
        first = dispatcher.claim(2)
        assert len(first) == 2
        assert uuid.UUID(quiet_hook["id"]) in {c.subscription_id for c in first}
        # Then one per subscription, none of those already in flight.
        rest = dispatcher.claim(50)
        assert len(rest) == 2
        hooks = {c.subscription_id for c in first + rest}
        assert hooks == {uuid.UUID(h["id"]) for h in [*busy_hooks, quiet_hook]}
        assert dispatcher.claim(50) == []

    def test_a_slow_endpoint_does_not_delay_another_accounts_delivery(
        self, client: TestClient, settings: Settings, receiver: Receiver
    ) -> None:
        slow_owner, other = register(client), register(client)
        receiver.answers["/slow"] = Answer(delay=2.0)  # well within the 10 s timeout
        create_webhook(client, slow_owner, receiver.url("/slow"), ["contact.created"], receiver)
        create_webhook(client, other, receiver.url("/fast"), ["contact.created"], receiver)
        for _ in range(3):
            create_contact(client, slow_owner)
        dispatcher = dispatcher_for(client, settings)
        dispatcher.poll_interval = 0.05
        with dispatching(dispatcher):
            assert receiver.wait_for(1, where=lambda r: r.path == "/slow")
            emitted = time.monotonic()
            create_contact(client, other)
            got = receiver.wait_for(1, timeout=10, where=lambda r: r.path == "/fast")
            waited = time.monotonic() - emitted
            assert len(got) == 1
            # One attempt in flight per subscription: the slow endpoint got one, not three.
            assert len(receiver.requests("/slow")) == 1
        assert waited < 1.5, waited
        assert all(r.verified for r in receiver.requests())


class TestQueueCap:
    def test_events_beyond_the_cap_are_dropped_and_counted(
        self, client: TestClient, settings: Settings, receiver: Receiver
    ) -> None:
        user, other = register(client), register(client)
        webhook = create_webhook(client, user, receiver.url("/a"), ["contact.created"], receiver)
        untouched = create_webhook(client, other, receiver.url("/b"), ["contact.created"])
        csv = "full_name\n" + "".join(f"Contact {n}\n" for n in range(40))
        r = client.post(
            "/api/v1/contacts/import",
            content=csv.encode(),
            headers={**user.headers, "Content-Type": "text/csv"},
        )
        assert r.status_code == 200, r.text
        create_contact(client, other)
        dispatcher = dispatcher_for(client, settings, **FAST)
        dispatcher.max_pending = 5
        started = time.monotonic()
        while dispatcher.fan_out():
            pass
        assert time.monotonic() - started < 5
        assert queued(client, webhook["id"]) == 5
        assert queued(client, untouched["id"]) == 1

        got = client.get(f"{BASE}/{webhook['id']}", headers=user.headers)
        assert got.status_code == 200
        assert got.json()["dropped_events"] == 35
        assert got.json()["last_dropped_at"] is not None
        assert got.headers["etag"] == '"1"'  # not the owner's change: If-Match still holds
        assert (
            client.get(f"{BASE}/{untouched['id']}", headers=other.headers).json()["dropped_events"]
            == 0
        )

        # Once the queue drains, new events are queued again.
        while dispatcher.run_once():
            pass
        assert len(receiver.requests("/a")) == 5
        create_contact(client, user)
        dispatcher.fan_out()
        assert queued(client, webhook["id"]) == 6
        listed = client.get(BASE, headers=user.headers).json()["data"]
        assert listed[0]["dropped_events"] == 35


class TestInternalTargets:
    @pytest.fixture
    def strict(self, settings: Settings) -> Iterator[TestClient]:
        app = create_app(settings.model_copy(update={"webhook_allow_private": False}))
        with TestClient(app, raise_server_exceptions=False) as test_client:
            yield test_client
        app.state.engine.dispose()

    def test_site_local_and_other_non_global_ranges_are_refused(self) -> None:
        for address in (
            "fec0::1",
            "feff::1",
            "3fff::1",
            "2001:db8::1",
            "64:ff9b:1::1",
            "100::1",
            "192.88.99.1",
            "198.18.0.1",
            "0.1.2.3",
            "100.64.0.1",
            "::ffff:0:7f00:1",
            "2002:a00:1::1",
        ):
            assert urls.address_blocked(ipaddress.ip_address(address)), address
        for address in ("93.184.215.14", "2606:4700:4700::1111", "2001:4860:4860::8888"):
            assert not urls.address_blocked(ipaddress.ip_address(address)), address

    def test_one_message_that_never_tells_what_a_name_resolves_to(self, strict: TestClient) -> None:
        user = register(strict)
        details = set()
        for url in (
            "http://[fec0::1]/hook",
            "http://[fef0::5]:8080/hook",
            "http://localhost/hook",
            "http://127.0.0.1/hook",
            "http://10.0.0.1/hook",
            "http://does-not-exist.invalid/hook",
        ):
            r = strict.post(
                BASE, json={"url": url, "event_types": ["contact.created"]}, headers=user.headers
            )
            body = assert_problem(r, 422, "webhook_url_not_allowed")
            details.add((body["detail"], body["errors"][0]["msg"]))
            assert "127.0.0.1" not in r.text or "127.0.0.1" in url
            assert "::1" not in r.text
        assert len(details) == 1, details
        assert strict.get(BASE, headers=user.headers).json()["data"] == []


class TestSecretsAtRest:
    def test_secrets_are_sealed_and_still_sign(
        self, client: TestClient, settings: Settings, receiver: Receiver
    ) -> None:
        user = register(client)
        webhook = create_webhook(client, user, receiver.url(), receiver=receiver)
        secret = webhook["secret"]
        row = stored_subscription(client, webhook["id"])
        assert row.secret.startswith(secret_box.PREFIX)
        assert secret not in row.secret
        assert secret.removeprefix("whsec_") not in row.secret
        key = settings.secret_key
        assert secret_box.open_(key, row.id, row.secret) == secret
        with pytest.raises(secret_box.SecretUnreadable):  # bound to its own row
            secret_box.open_(key, uuid.uuid4(), row.secret)
        with pytest.raises(secret_box.SecretUnreadable):  # and to this server's key
            secret_box.open_(key + "x", row.id, row.secret)

        create_contact(client, user)
        assert dispatcher_for(client, settings).run_once() == 1
        rotated = client.post(f"{BASE}/{webhook['id']}/rotate-secret", headers=user.headers)
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        assert new != secret and new.startswith("whsec_")
        row = stored_subscription(client, webhook["id"])
        assert new not in row.secret and secret not in (row.previous_secret or "")
        create_contact(client, user)
        assert dispatcher_for(client, settings).run_once() == 1
        first, second = receiver.wait_for(2)
        assert first.verified and second.verified
        # During the grace period both secrets sign the second delivery.
        Webhook(new).verify(second.body, second.headers)
        Webhook(secret).verify(second.body, second.headers)
        # Shown at creation and rotation only.
        got = client.get(f"{BASE}/{webhook['id']}", headers=user.headers).json()
        assert "secret" not in got and secret not in str(got) and new not in str(got)

    def test_a_server_with_another_key_does_not_send(
        self, client: TestClient, settings: Settings, receiver: Receiver
    ) -> None:
        user = register(client)
        webhook = create_webhook(client, user, receiver.url(), receiver=receiver)
        create_contact(client, user)
        other_key = dispatcher_for(client, settings, secret_key="another-" + TEST_SECRET, **FAST)
        assert other_key.run_once() == 1
        assert receiver.requests() == []
        [failed] = deliveries(client, user, webhook["id"])
        assert failed["status"] == "failed"
        assert "rotate the webhook's secret" in failed["last_error"]

    def test_the_migration_seals_plain_secrets_and_the_downgrade_opens_them(
        self, database_url: str
    ) -> None:
        before, sealing = "9b2e6d1f4a70", "3e8a5c2d7f14"
        config = alembic_config(database_url)
        config.attributes["secret_key"] = TEST_SECRET
        command.downgrade(config, before)
        engine = create_engine(database_url)
        owner, hook = uuid.uuid4(), uuid.uuid4()
        plain, previous = "whsec_" + "A" * 43 + "=", "whsec_" + "B" * 43 + "="
        try:
            now = utcnow()
            with engine.begin() as conn:
                conn.execute(
                    insert(sa.table("user_account", *(sa.column(n, t) for n, t in USER))).values(
                        id=owner,
                        email="old@example.com",
                        password_hash="x",
                        created_at=now,
                        updated_at=now,
                    )
                )
                conn.execute(
                    insert(
                        sa.table("webhook_subscription", *(sa.column(n, t) for n, t in HOOK))
                    ).values(
                        id=hook,
                        owner_id=owner,
                        url="http://127.0.0.1:9/hook",
                        event_types=["contact.created"],
                        active=True,
                        secret=plain,
                        previous_secret=previous,
                        version=1,
                        created_at=now,
                        updated_at=now,
                    )
                )
            command.upgrade(config, sealing)

            def stored() -> tuple[str, str]:
                with engine.connect() as conn:
                    row = conn.execute(
                        text("SELECT secret, previous_secret FROM webhook_subscription")
                    ).one()
                    return row[0], row[1]

            secret, old = stored()
            assert secret.startswith("v1:") and old.startswith("v1:")
            assert secret_box.open_(TEST_SECRET, hook, secret) == plain
            assert secret_box.open_(TEST_SECRET, hook, old) == previous
            command.downgrade(config, before)
            assert stored() == (plain, previous)
        finally:
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM webhook_subscription"))
                conn.execute(text("DELETE FROM user_account"))
            engine.dispose()
            command.upgrade(config, "head")


def test_update_of_a_subscription_keeps_its_sealed_secret(
    client: TestClient, settings: Settings, receiver: Receiver
) -> None:
    user = register(client)
    webhook = create_webhook(client, user, receiver.url(), receiver=receiver)
    sealed = stored_subscription(client, webhook["id"]).secret
    r = client.patch(f"{BASE}/{webhook['id']}", json={"description": "x"}, headers=user.headers)
    assert r.status_code == 200, r.text
    assert stored_subscription(client, webhook["id"]).secret == sealed
    with Session(engine_of(client)) as session:  # type: ignore[arg-type]
        session.execute(update(WebhookSubscription).values(description="y"))
        session.commit()
    create_contact(client, user)
    assert dispatcher_for(client, settings).run_once() == 1
    [got] = receiver.wait_for(1)
    assert got.verified
