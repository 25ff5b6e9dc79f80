"""Hostile use of ``Idempotency-Key``: a key never widens what a credential may see or do.

Each test sends what an attacker (or an unlucky client) would, through HTTP on both databases,
and asserts the answer and what was kept:

- scopes are checked before a replay, with the one rule every route uses: a personal access
  token without the operation's scope gets the 403 it gets without a key, whatever key it
  sends; a key is replayed only to the credential that used it;
- responses that carry a secret (a webhook's signing secret, a personal access token, the
  calendar feed token) are never stored: a retry with the key does not run the write again
  and is told where the resource is;
- only successes are kept, each at most 64 KiB: a refused or failed request frees its key and
  leaves nothing behind, a larger success is recorded without its body;
- replays carry ``Cache-Control: no-store`` and ``Idempotent-Replayed: true``;
- a key whose request never resolved (its process died) is never run again: 409 while it may
  still be running, then a 409 saying its outcome is unknown, until the key expires.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, update
from sqlmodel import Session, select

from app.accounts.deps import CurrentUser
from app.idempotency.middleware import EXEMPT_PREFIXES, SECRET_RESPONSES, takes_idempotency_key
from app.idempotency.schemas import IdempotencyRecord
from app.idempotency.service import LOCK_TIMEOUT, MAX_STORED_BODY, fingerprint
from app.kit.config import Settings
from app.kit.migrations import downgrade, upgrade
from app.main import create_app
from tests.factories import User, assert_problem, register

API = "/api/v1"
CONTACTS = f"{API}/contacts"
WEBHOOKS = f"{API}/webhooks"
TOKENS = f"{API}/tokens"
CALENDAR_TOKEN = f"{API}/calendar/token"
FEED = f"{API}/calendar.ics"
HOOK_URL = "http://93.184.215.14/hooks/infoview"
# Names a response field carrying a secret goes by, for the sweep of the OpenAPI document.
SECRET_FIELDS = {"secret", "token", "access_token", "refresh_token", "client_secret"}
# The migration that forgets what earlier versions kept.
MIGRATION = "6f0c9a2e4b71"


# --- helpers ---------------------------------------------------------------------------------


def keyed(user: User, key: str, **headers: str) -> dict[str, str]:
    return {**user.headers, "Idempotency-Key": key, **headers}


def personal_token(client: TestClient, user: User, *scopes: str) -> User:
    """A personal access token of ``user``'s with ``scopes``, as a caller."""
    r = client.post(
        TOKENS, json={"name": "-".join(scopes), "scopes": list(scopes)}, headers=user.headers
    )
    assert r.status_code == 201, r.text
    secret = r.json()["token"]
    return User(
        id=user.id,
        email=user.email,
        access_token=secret,
        refresh_token="",
        headers={"Authorization": f"Bearer {secret}"},
    )


def records(client: TestClient) -> list[IdempotencyRecord]:
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        rows = list(session.exec(select(IdempotencyRecord)).all())
        session.expunge_all()
        return rows


def stored_text(client: TestClient) -> str:
    """Everything the idempotency records hold, as text: what a database dump would show."""
    return "\n".join(
        f"{r.response_headers!r} {(r.response_body or b'').decode('utf-8', 'replace')}"
        for r in records(client)
    )


def age_records(client: TestClient, **values: Any) -> None:
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        session.execute(update(IdempotencyRecord).values(**values))
        session.commit()


def count(client: TestClient, user: User, path: str) -> int:
    r = client.get(f"{path}?limit=100", headers=user.headers)
    assert r.status_code == 200, r.text
    return len(r.json()["data"])


def assert_replay_of(first: Any, replay: Any) -> None:
    assert replay.status_code == first.status_code
    assert replay.content == first.content
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["cache-control"] == "no-store"
    for header in ("etag", "location", "content-type"):
        assert replay.headers.get(header) == first.headers.get(header), header


def same_problem(with_key: Any, without_key: Any) -> None:
    """The two answers are the same problem: status, code, detail and auth challenge."""
    a, b = with_key.json(), without_key.json()
    assert (with_key.status_code, a["code"], a["detail"]) == (
        without_key.status_code,
        b["code"],
        b["detail"],
    )
    assert with_key.headers.get("www-authenticate") == without_key.headers.get("www-authenticate")
    assert "idempotent-replayed" not in with_key.headers


# --- 1. scopes before a replay; a key belongs to one credential -------------------------------


class TestScopesBeforeReplay:
    def test_a_read_token_replaying_a_sessions_webhook_key_gets_the_routes_403(
        self, client: TestClient
    ) -> None:
        user = register(client)
        body = {"url": HOOK_URL, "event_types": ["contact.created"]}
        first = client.post(WEBHOOKS, json=body, headers=keyed(user, "hook-1"))
        assert first.status_code == 201 and first.json()["secret"].startswith("whsec_")
        reader = personal_token(client, user, "contacts:read")

        replay = client.post(WEBHOOKS, json=body, headers=keyed(reader, "hook-1"))
        assert_problem(replay, 403, "insufficient_scope")
        same_problem(replay, client.post(WEBHOOKS, json=body, headers=reader.headers))
        assert "whsec_" not in replay.text

        rotate = f"{WEBHOOKS}/{first.json()['id']}/rotate-secret"
        rotated = client.post(rotate, headers=keyed(user, "rotate-1"))
        assert rotated.status_code == 200 and rotated.json()["secret"].startswith("whsec_")
        replay = client.post(rotate, headers=keyed(reader, "rotate-1"))
        assert_problem(replay, 403, "insufficient_scope")
        same_problem(replay, client.post(rotate, headers=reader.headers))
        assert "whsec_" not in replay.text
        assert count(client, user, WEBHOOKS) == 1

    def test_a_token_without_the_scope_claims_nothing(self, client: TestClient) -> None:
        user = register(client)
        reader = personal_token(client, user, "contacts:read")
        body = {"full_name": "Ada Lovelace"}
        for _ in range(3):
            r = client.post(CONTACTS, json=body, headers=keyed(reader, "no-scope"))
            assert_problem(r, 403, "insufficient_scope")
            same_problem(r, client.post(CONTACTS, json=body, headers=reader.headers))
        # Token management needs a session: a token is refused there, key or no key.
        r = client.post(
            TOKENS, json={"name": "x", "scopes": ["contacts:read"]}, headers=keyed(reader, "mint")
        )
        assert_problem(r, 403, "insufficient_scope")
        assert records(client) == []
        assert count(client, user, CONTACTS) == 0

    def test_a_key_is_replayed_only_to_the_credential_that_used_it(
        self, client: TestClient
    ) -> None:
        user = register(client)
        writer = personal_token(client, user, "contacts:read", "contacts:write")
        other = personal_token(client, user, "contacts:read", "contacts:write")
        body = {"full_name": "Grace Hopper", "email": "grace@example.com"}

        first = client.post(CONTACTS, json=body, headers=keyed(user, "session-key"))
        assert first.status_code == 201, first.text
        # A token with every scope the route needs still never gets a session's answer, nor
        # another token's: the key is taken (422) and nothing runs.
        for caller in (writer, other):
            r = client.post(CONTACTS, json=body, headers=keyed(caller, "session-key"))
            assert_problem(r, 422, "idempotency_key_reused")
            assert "grace@example.com" not in r.text

        by_token = client.post(CONTACTS, json=body, headers=keyed(writer, "token-key"))
        assert by_token.status_code == 201, by_token.text
        assert_replay_of(
            by_token, client.post(CONTACTS, json=body, headers=keyed(writer, "token-key"))
        )
        for caller in (other, user):
            r = client.post(CONTACTS, json=body, headers=keyed(caller, "token-key"))
            assert_problem(r, 422, "idempotency_key_reused")
        # Another session of the same user is the same credential: it gets the replay.
        again = register_session(client, user)
        assert_replay_of(
            first, client.post(CONTACTS, json=body, headers=keyed(again, "session-key"))
        )
        assert count(client, user, CONTACTS) == 2

    def test_a_revoked_token_gets_its_401_not_a_replay(self, client: TestClient) -> None:
        user = register(client)
        writer = personal_token(client, user, "contacts:write")
        body = {"full_name": "Ada"}
        assert client.post(CONTACTS, json=body, headers=keyed(writer, "k")).status_code == 201
        [token] = client.get(TOKENS, headers=user.headers).json()["data"]
        assert client.delete(f"{TOKENS}/{token['id']}", headers=user.headers).status_code == 204
        r = client.post(CONTACTS, json=body, headers=keyed(writer, "k"))
        assert_problem(r, 401, "token_revoked")


def register_session(client: TestClient, user: User) -> User:
    """A second session (another login) of ``user``."""
    r = client.post(
        f"{API}/auth/token", data={"username": user.email, "password": "correct horse battery"}
    )
    assert r.status_code == 200, r.text
    access = r.json()["access_token"]
    assert access != user.access_token
    return User(
        id=user.id,
        email=user.email,
        access_token=access,
        refresh_token=r.json()["refresh_token"],
        headers={"Authorization": f"Bearer {access}"},
    )


# --- 2. secrets are never stored, and their writes never run twice ---------------------------


class TestSecretsNeverStored:
    def test_a_webhooks_secret_is_shown_once_and_its_key_never_runs_again(
        self, client: TestClient
    ) -> None:
        user = register(client)
        body = {"url": HOOK_URL, "event_types": ["contact.created"]}
        first = client.post(WEBHOOKS, json=body, headers=keyed(user, "hook"))
        assert first.status_code == 201, first.text
        secret = first.json()["secret"]
        assert first.headers["cache-control"] == "no-store"

        retry = client.post(WEBHOOKS, json=body, headers=keyed(user, "hook"))
        problem = assert_problem(retry, 409, "idempotency_response_not_kept")
        assert problem["location"] == first.headers["location"]
        assert "secret" in problem["detail"] and secret not in retry.text
        assert count(client, user, WEBHOOKS) == 1
        [record] = records(client)
        assert record.status == "done_secret" and record.response_body is None
        assert "whsec_" not in stored_text(client)

    def test_a_rotation_retried_with_its_key_rotates_once(self, client: TestClient) -> None:
        user = register(client)
        hook = client.post(
            WEBHOOKS,
            json={"url": HOOK_URL, "event_types": ["contact.created"]},
            headers=user.headers,
        ).json()
        rotate = f"{WEBHOOKS}/{hook['id']}/rotate-secret"
        first = client.post(rotate, headers=keyed(user, "rotate"))
        assert first.status_code == 200, first.text
        retry = client.post(rotate, headers=keyed(user, "rotate"))
        problem = assert_problem(retry, 409, "idempotency_response_not_kept")
        assert problem["location"] == f"{WEBHOOKS}/{hook['id']}"
        assert first.json()["secret"] not in retry.text
        # Rotated once: the subscription is at the version the first answer gave.
        now = client.get(problem["location"], headers=user.headers)
        assert now.headers["etag"] == first.headers["etag"]
        assert "whsec_" not in stored_text(client)

    def test_a_personal_access_token_is_minted_once(self, client: TestClient) -> None:
        user = register(client)
        body = {"name": "sync", "scopes": ["contacts:read"]}
        first = client.post(TOKENS, json=body, headers=keyed(user, "mint"))
        assert first.status_code == 201, first.text
        retry = client.post(TOKENS, json=body, headers=keyed(user, "mint"))
        problem = assert_problem(retry, 409, "idempotency_response_not_kept")
        assert problem["location"] == first.headers["location"]
        assert first.json()["token"] not in retry.text
        assert count(client, user, TOKENS) == 1
        assert "ivk_" not in stored_text(client)

    def test_the_calendar_token_is_rotated_once(self, client: TestClient) -> None:
        user = register(client)
        first = client.post(CALENDAR_TOKEN, headers=keyed(user, "feed"))
        assert first.status_code == 200, first.text
        token = first.json()["token"]
        retry = client.post(CALENDAR_TOKEN, headers=keyed(user, "feed"))
        problem = assert_problem(retry, 409, "idempotency_response_not_kept")
        assert "location" not in problem and token not in retry.text
        # Not rotated a second time: the token the first answer gave still opens the feed.
        assert client.get(FEED, params={"token": token}).status_code == 200
        assert token not in stored_text(client)

    def test_every_operation_answering_a_secret_is_declared(self, client: TestClient) -> None:
        """The declaration is by operation id; this sweep keeps it complete."""
        spec = client.get("/openapi.json").json()
        schemas = spec["components"]["schemas"]

        def fields(schema: dict[str, Any], seen: frozenset[str] = frozenset()) -> Iterator[str]:
            ref = schema.get("$ref")
            if ref:
                name = ref.rsplit("/", 1)[-1]
                if name not in seen:
                    yield from fields(schemas[name], seen | {name})
                return
            for name, sub in schema.get("properties", {}).items():
                yield name
                yield from fields(sub, seen)
            for key in ("items", "additionalProperties"):
                if isinstance(schema.get(key), dict):
                    yield from fields(schema[key], seen)
            for key in ("allOf", "anyOf", "oneOf"):
                for sub in schema.get(key, []):
                    yield from fields(sub, seen)

        answering_secrets = set()
        operations = set()
        for path, item in spec["paths"].items():
            for method, operation in item.items():
                operations.add(operation["operationId"])
                if not takes_idempotency_key(method, path):
                    continue
                for status, response in operation["responses"].items():
                    if not status.startswith("2"):
                        continue
                    for content in response.get("content", {}).values():
                        if SECRET_FIELDS & set(fields(content.get("schema", {}))):
                            answering_secrets.add(operation["operationId"])
                parameter = next(
                    p for p in operation["parameters"] if p["name"] == "Idempotency-Key"
                )
                if operation["operationId"] in SECRET_RESPONSES:
                    assert "never kept" in parameter["description"]
        assert answering_secrets == set(SECRET_RESPONSES)
        for target in SECRET_RESPONSES.values():
            assert target is None or target in operations
        # Login and refresh answer tokens too; they take no key at all.
        assert all(
            p.startswith(EXEMPT_PREFIXES) for p in (f"{API}/auth/token", f"{API}/auth/refresh")
        )


# --- 3. and 4. only successes, bounded; replays are not cached -------------------------------


class TestOnlyBoundedSuccesses:
    def test_refusals_free_their_keys_and_keep_nothing(self, client: TestClient) -> None:
        user = register(client)
        missing = f"{API}/interviews/{uuid.uuid4()}/transitions"
        # Big refused bodies, each with its own key: once, each would have been kept for 24 h.
        bulky = {"full_name": "", "notes": "x" * 20_000, "tags": ["t"] * 10}
        for n in range(20):
            r = client.post(CONTACTS, json=bulky, headers=keyed(user, f"bad-{n}"))
            assert_problem(r, 422, "validation_error")
        assert_problem(
            client.post(missing, json={"to": "prepared"}, headers=keyed(user, "gone")), 404
        )
        assert records(client) == []
        # A refused key is free: the corrected request runs under it.
        fixed = client.post(CONTACTS, json={"full_name": "Ada"}, headers=keyed(user, "bad-0"))
        assert fixed.status_code == 201 and "idempotent-replayed" not in fixed.headers
        [record] = records(client)
        assert record.status == "done" and record.response_status == 201

    def test_replays_are_never_cached(self, client: TestClient) -> None:
        user = register(client)
        body = {"full_name": "Ada"}
        first = client.post(CONTACTS, json=body, headers=keyed(user, "cache"))
        assert first.status_code == 201
        assert "idempotent-replayed" not in first.headers
        assert_replay_of(first, client.post(CONTACTS, json=body, headers=keyed(user, "cache")))

    def test_a_success_over_64_kib_is_recorded_without_its_body(self, client: TestClient) -> None:
        user = register(client)
        # 20,000 four-byte characters: an 80 KB answer from an 80 KB request.
        body = {"full_name": "Ada", "notes": "\N{GRINNING FACE}" * 20_000}
        first = client.post(CONTACTS, json=body, headers=keyed(user, "big"))
        assert first.status_code == 201, first.text
        assert len(first.content) > MAX_STORED_BODY
        retry = client.post(CONTACTS, json=body, headers=keyed(user, "big"))
        problem = assert_problem(retry, 409, "idempotency_response_not_kept")
        assert problem["location"] == first.headers["location"]
        assert "64 KiB" in problem["detail"]
        assert count(client, user, CONTACTS) == 1
        [record] = records(client)
        assert record.status == "done_too_large" and record.response_body is None

    def test_a_streamed_success_passes_through_and_is_not_kept(self, client: TestClient) -> None:
        user = register(client)
        calls: list[int] = []
        part = b"y" * 40_000

        async def stream(_user: CurrentUser) -> StreamingResponse:
            calls.append(1)

            async def parts() -> Any:
                for _ in range(3):
                    yield part

            return StreamingResponse(parts(), media_type="application/octet-stream")

        client.app.add_api_route(  # type: ignore[attr-defined]
            f"{API}/test-stream", stream, methods=["POST"], operation_id="test-stream"
        )
        first = client.post(f"{API}/test-stream", headers=keyed(user, "stream"))
        assert first.status_code == 200 and first.content == part * 3
        retry = client.post(f"{API}/test-stream", headers=keyed(user, "stream"))
        assert_problem(retry, 409, "idempotency_response_not_kept")
        assert len(calls) == 1
        [record] = records(client)
        assert record.status == "done_too_large" and record.response_body is None


# --- 5. a key whose request never resolved is never run again --------------------------------


class TestNeverTwice:
    def _crashed(self, client: TestClient, user: User, key: str, body: dict[str, Any]) -> None:
        """What a process killed after committing a keyed write leaves: the write, and the
        claim it never resolved."""
        r = client.post(CONTACTS, json=body, headers=user.headers)
        assert r.status_code == 201
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

    def post(self, client: TestClient, user: User, key: str, body: dict[str, Any]) -> Any:
        return client.post(
            CONTACTS,
            content=json.dumps(body).encode(),
            headers=keyed(user, key, **{"Content-Type": "application/json"}),
        )

    def test_an_interrupted_key_is_never_taken_over(self, client: TestClient) -> None:
        user = register(client)
        body = {"full_name": "Ada"}
        self._crashed(client, user, "crash", body)

        r = self.post(client, user, "crash", body)
        assert_problem(r, 409, "idempotency_in_progress")
        assert r.headers["retry-after"] == "1"
        for seconds in (LOCK_TIMEOUT.total_seconds() + 1, 3600, 23 * 3600):
            age_records(client, locked_at=datetime.now(UTC) - timedelta(seconds=seconds))
            r = self.post(client, user, "crash", body)
            problem = assert_problem(r, 409, "idempotency_outcome_unknown")
            assert "new key" in problem["detail"] and "retry-after" not in r.headers
        assert count(client, user, CONTACTS) == 1
        # Another body under the key is still another request.
        assert_problem(
            self.post(client, user, "crash", {"full_name": "Bo"}), 422, "idempotency_key_reused"
        )
        # Once the record has expired the key is free again, as documented.
        age_records(client, created_at=datetime.now(UTC) - timedelta(hours=25))
        assert self.post(client, user, "crash", body).status_code == 201
        assert count(client, user, CONTACTS) == 2

    def test_a_restarted_server_never_runs_an_interrupted_key(
        self, client: TestClient, settings: Settings
    ) -> None:
        user = register(client)
        body = {"full_name": "Ada"}
        self._crashed(client, user, "restart", body)
        age_records(client, locked_at=datetime.now(UTC) - timedelta(minutes=5))
        restarted = create_app(settings)
        try:
            with TestClient(restarted, raise_server_exceptions=False) as fresh:
                for _ in range(3):
                    r = self.post(fresh, user, "restart", body)
                    assert_problem(r, 409, "idempotency_outcome_unknown")
                assert count(fresh, user, CONTACTS) == 1
        finally:
            restarted.state.engine.dispose()


# --- what earlier versions kept --------------------------------------------------------------


class TestUpgrade:
    def test_the_migration_forgets_secrets_failures_and_big_bodies(
        self, client: TestClient, database_url: str
    ) -> None:
        user = register(client)
        hook = {"url": HOOK_URL, "event_types": ["contact.created"]}
        failed = {"full_name": ""}
        kept = {"full_name": "Ada"}
        big = {"full_name": "Big"}
        location = f"{WEBHOOKS}/{uuid.uuid4()}"
        downgrade(database_url, f"{MIGRATION}-1")  # to just before it
        engine = create_engine(database_url)
        try:
            with engine.begin() as conn:
                for key, path, body, status, headers, response in (
                    ("hook", WEBHOOKS, hook, 201, {"location": location}, b'{"secret":"whsec_x"}'),
                    ("failed", CONTACTS, failed, 422, {}, b'{"code":"validation_error"}'),
                    (
                        "kept",
                        CONTACTS,
                        kept,
                        201,
                        {"content-type": "application/json"},
                        b'{"id":"1"}',
                    ),
                    ("big", CONTACTS, big, 201, {}, b"z" * (MAX_STORED_BODY + 1)),
                ):
                    conn.execute(
                        IdempotencyRecord.__table__.insert().values(  # type: ignore[attr-defined]
                            id=uuid.uuid4(),
                            user_id=uuid.UUID(user.id),
                            key=key,
                            method="POST",
                            path=path,
                            fingerprint=fingerprint("POST", path, "", json.dumps(body).encode()),
                            status="done",
                            response_status=status,
                            response_headers=headers,
                            response_body=response,
                            created_at=datetime.now(UTC),
                            locked_at=datetime.now(UTC),
                        )
                    )
        finally:
            engine.dispose()
        upgrade(database_url, "head")
        assert "whsec_" not in stored_text(client)

        def again(path: str, key: str, body: dict[str, Any]) -> Any:
            return client.post(
                path,
                content=json.dumps(body).encode(),
                headers=keyed(user, key, **{"Content-Type": "application/json"}),
            )

        problem = assert_problem(
            again(WEBHOOKS, "hook", hook), 409, "idempotency_response_not_kept"
        )
        assert problem["location"] == location
        assert_problem(again(CONTACTS, "big", big), 409, "idempotency_response_not_kept")
        replay = again(CONTACTS, "kept", kept)
        assert replay.status_code == 201 and replay.content == b'{"id":"1"}'
        # The stored failure is gone: its key runs (and refuses) afresh.
        r = again(CONTACTS, "failed", failed)
        assert_problem(r, 422, "validation_error")
        assert "idempotent-replayed" not in r.headers
