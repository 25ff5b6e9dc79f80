"""Webhook subscriptions over HTTP: create, list, get, update, delete, rotate the secret, the
delivery log and redelivery."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook

from app.kit.config import Settings
from app.main import create_app
from app.webhooks import urls
from tests.factories import User, assert_problem, register
from tests.factories_contacts import create_contact
from tests.factories_webhooks import create_webhook, deliveries, dispatcher_for
from tests.webhook_receiver import Receiver

BASE = "/api/v1/webhooks"
PUBLIC_URL = "http://93.184.215.14/hooks/infoview"


@pytest.fixture
def user(client: TestClient) -> User:
    return register(client)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


class TestCreate:
    def test_returns_the_secret_once_with_location_and_etag(
        self, client: TestClient, user: User
    ) -> None:
        r = client.post(
            BASE,
            json={
                "url": PUBLIC_URL,
                "event_types": ["contact.created", "letter.sent", "contact.created"],
                "description": "CRM sync",
            },
            headers=user.headers,
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert r.headers["location"] == f"{BASE}/{body['id']}"
        assert r.headers["etag"] == '"1"'
        assert r.headers["cache-control"] == "no-store"
        assert body["event_types"] == ["contact.created", "letter.sent"]
        assert body["active"] is True
        assert body["description"] == "CRM sync"
        secret = body["secret"]
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
        Webhook(secret)  # the reference library accepts it as is

        got = client.get(r.headers["location"], headers=user.headers)
        assert got.status_code == 200
        assert "secret" not in got.json()
        listed = client.get(BASE, headers=user.headers).json()["data"]
        assert [w["id"] for w in listed] == [body["id"]]
        assert "secret" not in listed[0]

    def test_a_url_that_is_not_http_is_refused(self, client: TestClient, user: User) -> None:
        for url in (
            "ftp://x.test/hook",
            "x.test/hook",
            "javascript:alert(1)",
            "http://",
            "http://a b",
        ):
            r = client.post(
                BASE, json={"url": url, "event_types": ["contact.created"]}, headers=user.headers
            )
            body = assert_problem(r, 422, "invalid_webhook_url")
            assert body["errors"][0]["loc"] == ["body", "url"], url
        assert client.get(BASE, headers=user.headers).json()["data"] == []

    def test_bad_bodies_are_422(self, client: TestClient, user: User) -> None:
        for body in (
            {"url": PUBLIC_URL, "event_types": []},
            {"url": PUBLIC_URL, "event_types": ["contact.deleted"]},
            {"url": PUBLIC_URL},
            {"url": PUBLIC_URL, "event_types": ["contact.created"], "secret": "whsec_mine"},
            {"url": "http://x.test/" + "a" * 2048, "event_types": ["contact.created"]},
            {"url": PUBLIC_URL, "event_types": ["contact.created"], "active": "yes"},
        ):
            assert_problem(client.post(BASE, json=body, headers=user.headers), 422)
        assert client.get(BASE, headers=user.headers).json()["data"] == []

    def test_requires_a_token(self, client: TestClient) -> None:
        r = client.post(BASE, json={"url": PUBLIC_URL, "event_types": ["contact.created"]})
        assert_problem(r, 401)


class TestScopes:
    def test_personal_access_tokens_need_webhooks_manage(
        self, client: TestClient, user: User
    ) -> None:
        def token(scopes: list[str]) -> dict[str, str]:
            r = client.post(
                "/api/v1/tokens", json={"name": "ci", "scopes": scopes}, headers=user.headers
            )
            assert r.status_code == 201, r.text
            return {"Authorization": f"Bearer {r.json()['token']}"}

        reader = token(["contacts:read", "contacts:write"])
        body = assert_problem(client.get(BASE, headers=reader), 403, "insufficient_scope")
        assert "webhooks:manage" in body["detail"]
        manager = token(["webhooks:manage"])
        r = client.post(
            BASE, json={"url": PUBLIC_URL, "event_types": ["contact.created"]}, headers=manager
        )
        assert r.status_code == 201, r.text
        assert client.get(BASE, headers=manager).json()["data"][0]["id"] == r.json()["id"]


class TestPrivateAddresses:
    """With private targets not allowed (production), internal addresses are refused."""

    @pytest.fixture
    def strict(self, settings: Settings) -> Iterator[TestClient]:
        app = create_app(settings.model_copy(update={"webhook_allow_private": False}))
        with TestClient(app, raise_server_exceptions=False) as test_client:
            yield test_client
        app.state.engine.dispose()

    INTERNAL = (
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.5.4/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",
        "http://224.0.0.1/hook",
        "http://2130706433/hook",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://[fd00::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "https://[64:ff9b::a9fe:a9fe]/hook",
        "http://does-not-exist.invalid/hook",
    )

    def test_internal_targets_are_refused(self, strict: TestClient) -> None:
        user = register(strict)
        for url in self.INTERNAL:
            r = strict.post(
                BASE, json={"url": url, "event_types": ["contact.created"]}, headers=user.headers
            )
            body = assert_problem(r, 422, "webhook_url_not_allowed")
            assert body["errors"][0]["loc"] == ["body", "url"], url
        assert strict.get(BASE, headers=user.headers).json()["data"] == []

    def test_public_address_is_accepted_and_update_is_checked_too(self, strict: TestClient) -> None:
        user = register(strict)
        created = create_webhook(strict, user, PUBLIC_URL)
        r = strict.patch(
            f"{BASE}/{created['id']}", json={"url": "http://127.0.0.1/x"}, headers=user.headers
        )
        assert_problem(r, 422, "webhook_url_not_allowed")
        assert (
            strict.get(f"{BASE}/{created['id']}", headers=user.headers).json()["url"] == PUBLIC_URL
        )

    def test_an_address_turned_private_after_saving_is_not_called(
        self, client: TestClient, user: User, settings: Settings, receiver: Receiver
    ) -> None:
        # Saved while private targets were allowed; the dispatcher now runs without that
        # allowance, as if the name had been re-pointed at an internal address (DNS rebinding).
        webhook = create_webhook(client, user, receiver.url(), receiver=receiver)
        create_contact(client, user)
        assert dispatcher_for(client, settings, webhook_allow_private=False).run_once() == 1
        assert receiver.requests() == []
        [delivery] = deliveries(client, user, webhook["id"])
        assert delivery["status"] == "failed"
        assert delivery["last_status_code"] is None
        assert urls.NOT_PUBLIC in delivery["last_error"]


class TestList:
    def test_pages_newest_first_and_only_mine(self, client: TestClient, user: User) -> None:
        ids = [create_webhook(client, user, f"{PUBLIC_URL}/{i}")["id"] for i in range(3)]
        create_webhook(client, register(client), PUBLIC_URL)
        first = client.get(BASE, params={"limit": 2}, headers=user.headers).json()
        assert [w["id"] for w in first["data"]] == ids[::-1][:2]
        assert first["has_more"] is True
        second = client.get(
            BASE, params={"limit": 2, "cursor": first["next_cursor"]}, headers=user.headers
        ).json()
        assert [w["id"] for w in second["data"]] == [ids[0]]
        assert second["has_more"] is False
        assert_problem(client.get(BASE, params={"limit": 0}, headers=user.headers), 422)
        assert_problem(client.get(BASE, params={"cursor": "!!"}, headers=user.headers), 422)


class TestGet:
    def test_another_users_webhook_is_404(self, client: TestClient, user: User) -> None:
        theirs = create_webhook(client, register(client), PUBLIC_URL)
        assert_problem(
            client.get(f"{BASE}/{theirs['id']}", headers=user.headers), 404, "webhook_not_found"
        )
        assert_problem(client.get(f"{BASE}/{uuid.uuid4()}", headers=user.headers), 404)
        assert_problem(client.get(f"{BASE}/not-a-uuid", headers=user.headers), 422)


class TestUpdate:
    def test_changes_fields_and_honours_if_match(self, client: TestClient, user: User) -> None:
        webhook = create_webhook(client, user, PUBLIC_URL, ["contact.created"])
        url = f"{BASE}/{webhook['id']}"
        r = client.patch(
            url,
            json={"event_types": ["letter.sent"], "active": False, "description": "paused"},
            headers={**user.headers, "If-Match": '"1"'},
        )
        assert r.status_code == 200, r.text
        assert r.headers["etag"] == '"2"'
        body = r.json()
        assert (body["event_types"], body["active"], body["description"]) == (
            ["letter.sent"],
            False,
            "paused",
        )
        stale = client.patch(
            url, json={"active": True}, headers={**user.headers, "If-Match": '"1"'}
        )
        assert_problem(stale, 412, "etag_mismatch")
        assert client.get(url, headers=user.headers).json()["active"] is False

    def test_bad_changes_are_422(self, client: TestClient, user: User) -> None:
        webhook = create_webhook(client, user, PUBLIC_URL)
        url = f"{BASE}/{webhook['id']}"
        for body in (
            {"url": None},
            {"event_types": None},
            {"event_types": []},
            {"active": None},
            {"url": "gopher://x"},
            {"secret": "x"},
        ):
            assert_problem(client.patch(url, json=body, headers=user.headers), 422)
        assert client.get(url, headers=user.headers).headers["etag"] == '"1"'


class TestDelete:
    def test_deletes_with_its_log(self, client: TestClient, user: User) -> None:
        webhook = create_webhook(client, user, PUBLIC_URL)
        url = f"{BASE}/{webhook['id']}"
        assert_problem(client.delete(url, headers={**user.headers, "If-Match": '"9"'}), 412)
        assert client.delete(url, headers={**user.headers, "If-Match": '"1"'}).status_code == 204
        assert_problem(client.get(url, headers=user.headers), 404)
        assert_problem(client.delete(url, headers=user.headers), 404)


class TestRotateSecret:
    def test_new_secret_signs_and_the_old_one_still_does_during_grace(
        self,
        client: TestClient,
        user: User,
        settings: Settings,
        receiver: Receiver,
    ) -> None:
        webhook = create_webhook(client, user, receiver.url(), ["contact.created"])
        old = webhook["secret"]
        r = client.post(f"{BASE}/{webhook['id']}/rotate-secret", headers=user.headers)
        assert r.status_code == 200, r.text
        assert r.headers["etag"] == '"2"'
        new = r.json()["secret"]
        assert new.startswith("whsec_") and new != old
        assert r.json()["previous_secret_expires_at"] is not None

        create_contact(client, user)
        dispatcher_for(client, settings).run_once()
        [got] = receiver.wait_for(1)
        assert len(got.headers["webhook-signature"].split(" ")) == 2
        for secret in (old, new):  # either secret verifies
            Webhook(secret).verify(got.body, got.headers)

    def test_without_grace_only_the_new_secret_signs(
        self, client: TestClient, user: User, settings: Settings, receiver: Receiver
    ) -> None:
        webhook = create_webhook(client, user, receiver.url(), ["contact.created"])
        r = client.post(
            f"{BASE}/{webhook['id']}/rotate-secret",
            json={"previous_secret_grace_seconds": 0},
            headers={**user.headers, "If-Match": '"1"'},
        )
        assert r.status_code == 200, r.text
        assert r.json()["previous_secret_expires_at"] is None
        receiver.secrets[:] = [webhook["secret"], r.json()["secret"]]
        create_contact(client, user)
        dispatcher_for(client, settings).run_once()
        [got] = receiver.wait_for(1)
        assert got.verified
        assert len(got.headers["webhook-signature"].split(" ")) == 1
        Webhook(r.json()["secret"]).verify(got.body, got.headers)

    def test_stale_if_match_and_bad_grace(self, client: TestClient, user: User) -> None:
        webhook = create_webhook(client, user, PUBLIC_URL)
        url = f"{BASE}/{webhook['id']}/rotate-secret"
        assert_problem(client.post(url, headers={**user.headers, "If-Match": '"7"'}), 412)
        r = client.post(url, json={"previous_secret_grace_seconds": -1}, headers=user.headers)
        assert_problem(r, 422)
        other = register(client)
        assert_problem(client.post(url, headers=other.headers), 404)


class TestDeliveries:
    def test_log_pages_filters_and_redelivers(
        self, client: TestClient, user: User, settings: Settings, receiver: Receiver
    ) -> None:
        webhook = create_webhook(client, user, receiver.url(), receiver=receiver)
        for _ in range(3):
            create_contact(client, user)
        dispatcher = dispatcher_for(client, settings)
        # One delivery per subscription at a time: a pass each.
        assert [dispatcher.run_once() for _ in range(4)] == [1, 1, 1, 0]
        receiver.wait_for(3)
        url = f"{BASE}/{webhook['id']}/deliveries"
        page = client.get(url, params={"limit": 2}, headers=user.headers).json()
        assert len(page["data"]) == 2 and page["has_more"] is True
        rest = client.get(
            url, params={"limit": 2, "cursor": page["next_cursor"]}, headers=user.headers
        ).json()
        log = page["data"] + rest["data"]
        assert len(log) == 3
        assert {d["status"] for d in log} == {"succeeded"}
        assert {d["event_id"] for d in log} == set(receiver.ids())
        assert all(d["attempts"] == 1 and d["last_status_code"] == 204 for d in log)
        assert deliveries(client, user, webhook["id"], status="failed") == []
        assert_problem(client.get(url, params={"status": "lost"}, headers=user.headers), 422)

        target = log[0]
        r = client.post(f"{url}/{target['id']}/redeliver", headers=user.headers)
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "pending"
        assert dispatcher.run_once() == 1
        receiver.wait_for(4)
        assert receiver.ids()[target["event_id"]] == 2  # same webhook-id: receivers can dedupe
        [again] = [d for d in deliveries(client, user, webhook["id"]) if d["id"] == target["id"]]
        assert (again["status"], again["attempts"]) == ("succeeded", 2)

    def test_redeliver_refusals(
        self, client: TestClient, user: User, settings: Settings, receiver: Receiver
    ) -> None:
        webhook = create_webhook(client, user, receiver.url(), receiver=receiver)
        other = create_webhook(client, user, receiver.url("/other"))
        create_contact(client, user)
        dispatcher_for(client, settings).run_once()
        [delivery] = deliveries(client, user, webhook["id"])
        # A delivery of another subscription, a made-up id, someone else's: all 404.
        path = f"{BASE}/{other['id']}/deliveries/{delivery['id']}/redeliver"
        assert_problem(client.post(path, headers=user.headers), 404, "delivery_not_found")
        path = f"{BASE}/{webhook['id']}/deliveries/{uuid.uuid4()}/redeliver"
        assert_problem(client.post(path, headers=user.headers), 404, "delivery_not_found")
        path = f"{BASE}/{webhook['id']}/deliveries/{delivery['id']}/redeliver"
        assert_problem(client.post(path, headers=register(client).headers), 404)
        assert_problem(
            client.get(f"{BASE}/{webhook['id']}/deliveries", headers=register(client).headers),
            404,
        )
        # An inactive subscription is not sent to.
        client.patch(f"{BASE}/{webhook['id']}", json={"active": False}, headers=user.headers)
        assert_problem(client.post(path, headers=user.headers), 409, "webhook_inactive")
