"""Idempotency-Key on POST: a retry replays the first response instead of doing the work twice."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, update
from sqlmodel import Session, select

from app.accounts.deps import CurrentUser
from app.idempotency.middleware import EXEMPT_PREFIXES
from app.idempotency.schemas import IdempotencyRecord
from app.idempotency.service import fingerprint, purge_expired
from app.kit.config import Settings
from app.main import create_app
from tests.factories import User, assert_problem, register

CONTACTS = "/api/v1/contacts"


def post_contact(
    client: TestClient, user: User, key: str | None, body: dict[str, Any], **headers: str
) -> Any:
    """POST a contact as exactly the bytes of ``json.dumps(body)``, so tests can fingerprint it."""
    sent = {**user.headers, "Content-Type": "application/json", **headers}
    if key is not None:
        sent["Idempotency-Key"] = key
    return client.post(CONTACTS, content=json.dumps(body).encode(), headers=sent)


def contact_count(client: TestClient, user: User) -> int:
    return len(client.get(f"{CONTACTS}?limit=100", headers=user.headers).json()["data"])


def records(client: TestClient) -> list[IdempotencyRecord]:
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        rows = list(session.exec(select(IdempotencyRecord)).all())
        session.expunge_all()
        return rows


def age_records(client: TestClient, **values: Any) -> None:
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        session.execute(update(IdempotencyRecord).values(**values))
        session.commit()


def assert_same_response(first: Any, replay: Any) -> None:
    assert replay.status_code == first.status_code
    assert replay.content == first.content
    for header in ("etag", "location", "content-type"):
        assert replay.headers.get(header) == first.headers.get(header), header
    assert replay.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers


class TestReplay:
    def test_same_key_same_body_replays_without_a_second_row(self, client: TestClient) -> None:
        user = register(client)
        key = str(uuid.uuid4())
        first = post_contact(client, user, key, {"full_name": "Ada Lovelace"})
        assert first.status_code == 201, first.text
        assert first.headers["etag"] and first.headers["location"]

        replay = post_contact(client, user, key, {"full_name": "Ada Lovelace"})
        assert_same_response(first, replay)
        assert contact_count(client, user) == 1
        [record] = records(client)
        assert record.status == "done" and record.response_status == 201

    def test_without_a_key_each_post_creates(self, client: TestClient) -> None:
        user = register(client)
        for _ in range(2):
            assert post_contact(client, user, None, {"full_name": "Bo"}).status_code == 201
        assert contact_count(client, user) == 2
        assert records(client) == []

    def test_same_key_with_another_body_is_422_and_writes_nothing(self, client: TestClient) -> None:
        user = register(client)
        assert post_contact(client, user, "k-1", {"full_name": "Ada"}).status_code == 201
        r = post_contact(client, user, "k-1", {"full_name": "Grace"})
        assert_problem(r, 422, "idempotency_key_reused")
        r = client.post(
            f"{CONTACTS}?dry_run=1",
            content=json.dumps({"full_name": "Ada"}).encode(),
            headers={**user.headers, "Content-Type": "application/json", "Idempotency-Key": "k-1"},
        )
        assert_problem(r, 422, "idempotency_key_reused")
        assert contact_count(client, user) == 1

    def test_keys_are_per_user(self, client: TestClient) -> None:
        ada, bo = register(client), register(client)
        first = post_contact(client, ada, "shared-key", {"full_name": "Same"})
        second = post_contact(client, bo, "shared-key", {"full_name": "Same"})
        assert first.status_code == second.status_code == 201
        assert "idempotent-replayed" not in second.headers
        assert first.json()["id"] != second.json()["id"]
        assert contact_count(client, ada) == contact_count(client, bo) == 1

    def test_a_refused_request_frees_its_key(self, client: TestClient) -> None:
        user = register(client)
        first = post_contact(client, user, "bad", {"full_name": ""})
        assert_problem(first, 422, "validation_error")
        assert records(client) == []
        again = post_contact(client, user, "bad", {"full_name": ""})
        assert_problem(again, 422, "validation_error")
        assert "idempotent-replayed" not in again.headers
        # Corrected, the retry runs under the same key, and is then replayed.
        fixed = post_contact(client, user, "bad", {"full_name": "Ada"})
        assert fixed.status_code == 201, fixed.text
        assert_same_response(fixed, post_contact(client, user, "bad", {"full_name": "Ada"}))
        assert contact_count(client, user) == 1

    def test_keys_are_replayed_to_the_credential_that_used_them(self, client: TestClient) -> None:
        user = register(client)
        created = client.post(
            "/api/v1/tokens",
            json={"name": "sync", "scopes": ["contacts:read", "contacts:write"]},
            headers=user.headers,
        ).json()
        token_user = User(
            id=user.id,
            email=user.email,
            access_token=created["token"],
            refresh_token="",
            headers={"Authorization": f"Bearer {created['token']}"},
        )
        first = post_contact(client, token_user, "via-token", {"full_name": "Ada"})
        assert first.status_code == 201, first.text
        assert_same_response(
            first, post_contact(client, token_user, "via-token", {"full_name": "Ada"})
        )
        # The same user's session is another credential: the key is taken, nothing runs.
        r = post_contact(client, user, "via-token", {"full_name": "Ada"})
        assert_problem(r, 422, "idempotency_key_reused")
        assert contact_count(client, user) == 1

    def test_replay_survives_a_server_restart(self, client: TestClient, settings: Settings) -> None:
        user = register(client)
        first = post_contact(client, user, "restart", {"full_name": "Ada"})
        assert first.status_code == 201

        restarted = create_app(settings)
        try:
            with TestClient(restarted, raise_server_exceptions=False) as fresh:
                replay = post_contact(fresh, user, "restart", {"full_name": "Ada"})
                assert_same_response(first, replay)
                assert contact_count(fresh, user) == 1
        finally:
            restarted.state.engine.dispose()


class TestInProgress:
    def _claim(self, client: TestClient, user: User, key: str, body: dict[str, Any]) -> None:
        """Leave a claim as a request still running (or one whose process died) would."""
        with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
            session.add(
                IdempotencyRecord(
                    user_id=uuid.UUID(user.id),
                    key=key,
                    method="POST",
                    path=CONTACTS,
                    fingerprint=fingerprint("POST", CONTACTS, "", json.dumps(body).encode()),
                )
            )
            session.commit()

    def test_same_key_while_the_first_runs_is_409(self, client: TestClient) -> None:
        user = register(client)
        self._claim(client, user, "running", {"full_name": "Ada"})
        r = post_contact(client, user, "running", {"full_name": "Ada"})
        assert_problem(r, 409, "idempotency_in_progress")
        assert r.headers["retry-after"] == "1"
        r = post_contact(client, user, "running", {"full_name": "Someone else"})
        assert_problem(r, 422, "idempotency_key_reused")
        assert contact_count(client, user) == 0

    def test_a_claim_abandoned_for_a_minute_is_never_run_again(self, client: TestClient) -> None:
        user = register(client)
        self._claim(client, user, "crashed", {"full_name": "Ada"})
        age_records(client, locked_at=datetime.now(UTC) - timedelta(seconds=61))
        r = post_contact(client, user, "crashed", {"full_name": "Ada"})
        assert_problem(r, 409, "idempotency_outcome_unknown")
        assert "retry-after" not in r.headers
        assert contact_count(client, user) == 0
        [record] = records(client)
        assert record.status == "in_progress"

    def test_a_server_error_frees_the_key_for_a_retry(self, client: TestClient) -> None:
        user = register(client)
        calls: list[int] = []

        async def flaky(_user: CurrentUser) -> dict[str, bool]:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("the first attempt fails on our side")
            return {"ok": True}

        client.app.add_api_route(  # type: ignore[attr-defined]
            "/api/v1/test-flaky", flaky, methods=["POST"], operation_id="test-flaky"
        )
        headers = {**user.headers, "Idempotency-Key": "flaky"}
        assert_problem(client.post("/api/v1/test-flaky", headers=headers), 500, "internal_error")
        assert records(client) == []
        retry = client.post("/api/v1/test-flaky", headers=headers)
        assert retry.status_code == 200 and retry.json() == {"ok": True}
        replay = client.post("/api/v1/test-flaky", headers=headers)
        assert replay.headers["idempotent-replayed"] == "true"
        assert len(calls) == 2


class TestBadKey:
    def test_a_key_over_255_characters_is_400(self, client: TestClient) -> None:
        user = register(client)
        r = post_contact(client, user, "k" * 300, {"full_name": "Ada"})
        assert_problem(r, 400, "invalid_idempotency_key")
        r = post_contact(client, user, " ", {"full_name": "Ada"})
        assert_problem(r, 400, "invalid_idempotency_key")
        assert contact_count(client, user) == 0
        assert records(client) == []
        assert post_contact(client, user, "k" * 255, {"full_name": "Ada"}).status_code == 201

    def test_an_unauthenticated_keyed_post_is_401_and_stores_nothing(
        self, client: TestClient
    ) -> None:
        r = client.post(CONTACTS, json={"full_name": "Ada"}, headers={"Idempotency-Key": "k"})
        assert_problem(r, 401, "missing_token")
        r = client.post(
            CONTACTS,
            json={"full_name": "Ada"},
            headers={"Idempotency-Key": "k", "Authorization": "Bearer nonsense"},
        )
        assert_problem(r, 401, "invalid_token")
        assert records(client) == []

    def test_the_key_is_ignored_on_auth_operations(self, client: TestClient) -> None:
        body = {"email": "ada@example.com", "password": "correct horse battery"}
        headers = {"Idempotency-Key": "signup"}
        assert client.post("/api/v1/auth/register", json=body, headers=headers).status_code == 201
        r = client.post("/api/v1/auth/register", json=body, headers=headers)
        assert_problem(r, 409, "email_taken")
        assert records(client) == []


class TestExpiry:
    def test_expired_records_are_not_replayed(self, client: TestClient) -> None:
        user = register(client)
        first = post_contact(client, user, "old", {"full_name": "Ada"})
        age_records(client, created_at=datetime.now(UTC) - timedelta(hours=25))
        again = post_contact(client, user, "old", {"full_name": "Ada"})
        assert again.status_code == 201 and "idempotent-replayed" not in again.headers
        assert again.json()["id"] != first.json()["id"]
        assert contact_count(client, user) == 2
        # The key now holds the new response.
        assert_same_response(again, post_contact(client, user, "old", {"full_name": "Ada"}))

    def test_expired_records_are_purged(self, client: TestClient, settings: Settings) -> None:
        user = register(client)
        for key in ("a", "b"):
            assert post_contact(client, user, key, {"full_name": key}).status_code == 201
        age_records(client, created_at=datetime.now(UTC) - timedelta(hours=25))
        assert post_contact(client, user, "fresh", {"full_name": "c"}).status_code == 201

        with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
            assert purge_expired(session, settings.idempotency_hours) == 2
        assert [r.key for r in records(client)] == ["fresh"]

    def test_the_api_purges_on_its_own(self, client: TestClient, settings: Settings) -> None:
        user = register(client)
        assert post_contact(client, user, "a", {"full_name": "a"}).status_code == 201
        age_records(client, created_at=datetime.now(UTC) - timedelta(hours=25))
        restarted = create_app(settings)  # a new process purges with its first keyed POST
        try:
            with TestClient(restarted, raise_server_exceptions=False) as fresh:
                assert post_contact(fresh, user, "b", {"full_name": "b"}).status_code == 201
                with Session(restarted.state.engine) as session:
                    keys = session.exec(select(IdempotencyRecord.key)).all()
                    total = session.exec(select(func.count()).select_from(IdempotencyRecord)).one()
        finally:
            restarted.state.engine.dispose()
        assert list(keys) == ["b"] and total == 1


class TestOpenAPI:
    def test_every_post_declares_the_header_and_its_problems(self, client: TestClient) -> None:
        spec = client.get("/openapi.json").json()
        declared = []
        for path, item in spec["paths"].items():
            for method, operation in item.items():
                names = [p["name"] for p in operation.get("parameters", [])]
                exempt = path.startswith(EXEMPT_PREFIXES)
                if method == "post" and path.startswith("/api/v1/") and not exempt:
                    declared.append(operation["operationId"])
                    assert "Idempotency-Key" in names, operation["operationId"]
                    for status in ("400", "409", "422"):
                        assert status in operation["responses"], (operation["operationId"], status)
                    param = next(
                        p for p in operation["parameters"] if p["name"] == "Idempotency-Key"
                    )
                    assert param["in"] == "header" and param["required"] is False
                    assert param["schema"]["maxLength"] == 255
                else:
                    assert "Idempotency-Key" not in names, operation["operationId"]
        assert "contacts-create" in declared
