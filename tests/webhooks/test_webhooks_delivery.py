"""The outbox and the dispatcher, against a real receiver on 127.0.0.1 that verifies every
signature with the reference ``standardwebhooks`` library."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlmodel import Session

from app.kit.config import Settings
from app.kit.db import utcnow
from app.webhooks.dispatcher import LOG_RETENTION, Dispatcher, Outcome
from app.webhooks.outbox import emit
from app.webhooks.schemas import OutboxEvent, WebhookDelivery
from tests.factories import User, register
from tests.factories_contacts import create_contact, create_referral
from tests.factories_interviews import complete_checklist, create_interview, send, transition
from tests.factories_webhooks import create_webhook, deliveries, dispatcher_for
from tests.webhook_receiver import Answer, Receiver, free_port

FAST = {"webhook_retry_schedule": [0, 0, 1]}


@pytest.fixture
def user(client: TestClient) -> User:
    return register(client)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


def drain(dispatcher: Dispatcher) -> int:
    """Run passes until nothing is due; return how many attempts were made."""
    total = 0
    while sent := dispatcher.run_once():
        total += sent
    return total


def outbox_count(client: TestClient) -> int:
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        return int(session.execute(select(func.count()).select_from(OutboxEvent)).scalar_one())


class TestEvents:
    def test_every_event_type_arrives_signed(
        self, client: TestClient, user: User, settings: Settings, receiver: Receiver
    ) -> None:
        create_webhook(client, user, receiver.url(), receiver=receiver)
        contact = create_contact(client, user, full_name="Grace Hopper")
        r = client.patch(
            f"/api/v1/contacts/{contact['id']}",
            json={"title": "Rear admiral"},
            headers=user.headers,
        )
        assert r.status_code == 200, r.text
        referrer = create_contact(client, user, full_name="Ada")
        referral = create_referral(client, user, referrer["id"], contact["id"])
        interview = create_interview(
            client, user, contact_id=contact["id"], scheduled_at="2026-01-05T15:00:00Z"
        )
        letter = send(client, user, "request", contact["id"], interview["id"])
        complete_checklist(client, user, interview["id"])
        assert transition(client, user, interview["id"], "prepared").status_code == 200

        sent = drain(dispatcher_for(client, settings))
        got = receiver.wait_for(sent)
        assert len(got) == sent == outbox_count(client)
        assert all(r.verified for r in got), [r.error for r in got]
        by_type: dict[str, list[dict[str, object]]] = {}
        for item in got:
            assert item.headers["content-type"] == "application/json"
            assert set(item.payload) == {"type", "timestamp", "data"}
            by_type.setdefault(item.payload["type"], []).append(item.payload["data"])
        assert set(by_type) == {
            "contact.created",
            "contact.updated",
            "referral.created",
            "interview.created",
            "interview.state_changed",
            "letter.sent",
        }
        [updated] = by_type["contact.updated"]
        assert (updated["id"], updated["title"]) == (contact["id"], "Rear admiral")
        assert [d["id"] for d in by_type["referral.created"]] == [referral["id"]]
        assert [d["id"] for d in by_type["interview.created"]] == [interview["id"]]
        [moved] = by_type["interview.state_changed"]
        assert (moved["interview_id"], moved["from_state"], moved["to_state"]) == (
            interview["id"],
            "request",
            "prepared",
        )
        [sent_letter] = by_type["letter.sent"]
        assert (sent_letter["id"], sent_letter["status"]) == (letter["id"], "sent")
        # Each event went out once, under its own webhook-id.
        assert set(receiver.ids().values()) == {1}

    def test_only_subscribed_types_and_only_the_owners_events(
        self, client: TestClient, user: User, settings: Settings, receiver: Receiver
    ) -> None:
        webhook = create_webhook(client, user, receiver.url(), ["contact.updated"], receiver)
        create_contact(client, register(client))  # someone else's event
        contact = create_contact(client, user)  # not subscribed to contact.created
        client.patch(f"/api/v1/contacts/{contact['id']}", json={"notes": "x"}, headers=user.headers)
        assert drain(dispatcher_for(client, settings)) == 1
        [got] = receiver.wait_for(1)
        assert got.payload["type"] == "contact.updated"
        assert [d["event_type"] for d in deliveries(client, user, webhook["id"])] == [
            "contact.updated"
        ]

    def test_a_subscription_hears_only_of_later_events(
        self, client: TestClient, user: User, settings: Settings, receiver: Receiver
    ) -> None:
        create_contact(client, user)
        create_webhook(client, user, receiver.url(), receiver=receiver)
        assert drain(dispatcher_for(client, settings)) == 0
        assert outbox_count(client) == 1

    def test_no_event_for_a_refused_or_rolled_back_change(
        self, client: TestClient, user: User
    ) -> None:
        r = client.post("/api/v1/contacts", json={"full_name": ""}, headers=user.headers)
        assert r.status_code == 422
        with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
            emit(session, uuid.UUID(user.id), "contact.created", {"id": "x"})
            session.rollback()
        assert outbox_count(client) == 0


class TestRetries:
    def test_receiver_down_then_up_is_delivered_on_retry(
        self, client: TestClient, user: User, settings: Settings
    ) -> None:
        receiver = Receiver(free_port())  # not listening yet
        webhook = create_webhook(client, user, receiver.url(), receiver=receiver)
        create_contact(client, user)
        dispatcher = dispatcher_for(client, settings, **FAST)
        assert dispatcher.run_once() == 1
        [failed] = deliveries(client, user, webhook["id"])
        assert (failed["status"], failed["attempts"]) == ("failed", 1)
        assert failed["last_status_code"] is None and failed["last_error"]
        assert failed["next_attempt_at"] is not None

        with receiver:
            assert dispatcher.run_once() == 1
            [got] = receiver.wait_for(1)
        assert got.verified
        [done] = deliveries(client, user, webhook["id"])
        assert (done["status"], done["attempts"], done["last_status_code"]) == ("succeeded", 2, 204)
        assert done["last_error"] is None and done["next_attempt_at"] is None

    def test_gives_up_when_the_schedule_is_exhausted(
        self, client: TestClient, user: User, settings: Settings, receiver: Receiver
    ) -> None:
        receiver.default = Answer(status=500)
        webhook = create_webhook(client, user, receiver.url(), receiver=receiver)
        create_contact(client, user)
        dispatcher = dispatcher_for(client, settings, webhook_retry_schedule=[0, 0])
        assert drain(dispatcher) == 3  # the first attempt and two retries
        [dead] = deliveries(client, user, webhook["id"])
        assert (dead["status"], dead["attempts"], dead["last_status_code"]) == ("dead", 3, 500)
        assert dead["next_attempt_at"] is None
        assert len(receiver.requests()) == 3
        assert deliveries(client, user, webhook["id"], status="dead") == [dead]

    def test_waits_follow_the_schedule_with_jitter(
        self, client: TestClient, settings: Settings
    ) -> None:
        dispatcher = dispatcher_for(client, settings, webhook_retry_schedule=[10, 100])
        waits = [dispatcher.retry_delay(1) for _ in range(200)]
        assert all(w is not None and 8 <= w.total_seconds() <= 12 for w in waits)
        assert len({w for w in waits}) > 1  # spread, not one fixed value
        second = dispatcher.retry_delay(2)
        assert second is not None and 80 <= second.total_seconds() <= 120
        assert dispatcher.retry_delay(3) is None

    def test_a_slow_receiver_times_out(
        self, client: TestClient, user: User, settings: Settings, receiver: Receiver
    ) -> None:
        receiver.default = Answer(delay=2.0)
        webhook = create_webhook(client, user, receiver.url(), receiver=receiver)
        create_contact(client, user)
        dispatcher = dispatcher_for(client, settings, webhook_timeout_seconds=0.3, **FAST)
        assert dispatcher.run_once() == 1
        [failed] = deliveries(client, user, webhook["id"])
        assert failed["status"] == "failed"
        assert "timed out" in failed["last_error"]


class TestReceiverAnswers:
    def test_410_disables_the_subscription(
        self, client: TestClient, user: User, settings: Settings, receiver: Receiver
    ) -> None:
        receiver.default = Answer(status=410)
        webhook = create_webhook(client, user, receiver.url(), receiver=receiver)
        create_contact(client, user)
        dispatcher = dispatcher_for(client, settings, **FAST)
        assert dispatcher.run_once() == 1
        [dead] = deliveries(client, user, webhook["id"])
        assert (dead["status"], dead["last_status_code"]) == ("dead", 410)
        url = f"/api/v1/webhooks/{webhook['id']}"
        got = client.get(url, headers=user.headers)
        assert (got.json()["active"], got.json()["disabled_reason"]) == (False, "endpoint_gone")
        assert got.headers["etag"] == '"2"'

        create_contact(client, user)  # nothing more goes to a disabled endpoint
        assert drain(dispatcher) == 0
        assert len(receiver.requests()) == 1
        assert len(deliveries(client, user, webhook["id"])) == 1

        r = client.patch(url, json={"active": True}, headers=user.headers)
        assert (r.json()["active"], r.json()["disabled_reason"]) == (True, None)

    def test_redirects_are_not_followed(
        self, client: TestClient, user: User, settings: Settings, receiver: Receiver
    ) -> None:
        receiver.answers["/hook"] = Answer(status=307, headers={"Location": "/elsewhere"})
        webhook = create_webhook(client, user, receiver.url("/hook"), receiver=receiver)
        create_contact(client, user)
        assert dispatcher_for(client, settings, **FAST).run_once() == 1
        assert [r.path for r in receiver.requests()] == ["/hook"]
        [failed] = deliveries(client, user, webhook["id"])
        assert (failed["status"], failed["last_status_code"]) == ("failed", 307)
        assert "redirects are not followed" in failed["last_error"]


class TestLeases:
    def test_a_claimed_delivery_is_not_claimed_again_and_a_lost_lease_cannot_record(
        self, client: TestClient, user: User, settings: Settings, receiver: Receiver
    ) -> None:
        create_webhook(client, user, receiver.url(), receiver=receiver)
        create_contact(client, user)
        first = dispatcher_for(client, settings)
        second = dispatcher_for(client, settings)
        assert first.fan_out() == 1
        [claim] = first.claim()
        assert claim.attempt == 1
        assert second.fan_out() == 0
        assert second.claim() == []  # leased to the first dispatcher

        # The first one's lease runs out (it hung); the second takes over and records.
        with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
            delivery = session.get(WebhookDelivery, claim.delivery_id)
            assert delivery is not None and delivery.locked_until is not None
            delivery.locked_until -= first.lease + timedelta(seconds=1)
            session.add(delivery)
            session.commit()
        [again] = second.claim()
        assert (again.delivery_id, again.attempt) == (claim.delivery_id, 2)
        now = utcnow()
        assert first.record(claim, Outcome(status_code=204), now) is False
        assert second.record(again, Outcome(status_code=204), now) is True
        assert first.claim() == [] and second.claim() == []


class TestMaintenance:
    def test_old_finished_events_are_purged_with_their_log(
        self, client: TestClient, user: User, settings: Settings, receiver: Receiver
    ) -> None:
        receiver.answers["/down"] = Answer(status=503)
        up = create_webhook(client, user, receiver.url(), ["contact.created"], receiver)
        down = create_webhook(client, user, receiver.url("/down"), ["contact.created"])
        create_contact(client, user)
        dispatcher = dispatcher_for(client, settings)
        assert dispatcher.run_once() == 2
        engine = client.app.state.engine  # type: ignore[attr-defined]
        with Session(engine) as session:
            [event] = session.scalars(select(OutboxEvent)).all()
            event.created_at -= LOG_RETENTION + timedelta(days=1)
            session.add(event)
            session.commit()
        dispatcher.maintenance()  # one delivery still waits for a retry: kept
        assert len(deliveries(client, user, up["id"])) == 1
        with Session(engine) as session:
            session.execute(update(WebhookDelivery).values(status="dead"))
            session.commit()
        dispatcher.maintenance()
        assert outbox_count(client) == 0
        assert deliveries(client, user, up["id"]) == deliveries(client, user, down["id"]) == []
