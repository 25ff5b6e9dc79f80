"""Verified access tokens are remembered per process, and that changes nothing a client sees.

``app.kit.security.decode_access_token`` keeps the access tokens it has verified, with their
expiry, so a token's signature and claims are checked once rather than on every request; the
caller still proves the account exists with a one-column query. A remembered token must
still be refused when it expires, when its account is deleted, under another secret,
audience or issuer; a refresh token must never pass for an access token; and the memory is
bounded.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from app.kit import security
from app.kit.config import Settings
from app.kit.security import InvalidToken, create_token, decode_access_token
from tests.conftest import TEST_SECRET
from tests.factories import assert_problem, register

OTHER_SECRET = "another-test-secret-that-is-long-enough-9876543210"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def remembered(settings: Settings, token: str) -> bool:
    """Whether this process has the token in its verified-access memory."""
    key = (token, settings.secret_key, settings.jwt_audience, settings.jwt_issuer)
    return key in security._VERIFIED_ACCESS


def unit_settings(**overrides: str) -> Settings:
    base = Settings(
        env="test", database_url="sqlite://", secret_key=TEST_SECRET, run_dispatcher=False
    )
    return base.model_copy(update=overrides)


def test_a_remembered_token_is_refused_once_it_has_expired(
    client: TestClient, settings: Settings
) -> None:
    user = register(client)
    token, claims = create_token(
        settings,
        subject=uuid.UUID(user.id),
        token_type="access",
        lifetime=timedelta(seconds=2),
    )
    r = client.get("/api/v1/me", headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json()["id"] == user.id
    assert remembered(settings, token)
    # Still accepted while it is valid, now from memory.
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200

    time.sleep(max(0.0, claims.expires_at.timestamp() - time.time()) + 0.1)

    assert_problem(client.get("/api/v1/me", headers=bearer(token)), 401, "invalid_token")
    # The user's own, longer-lived token is unaffected.
    assert client.get("/api/v1/me", headers=user.headers).status_code == 200


def test_a_token_whose_exp_has_come_is_refused_on_every_request(
    client: TestClient, settings: Settings
) -> None:
    user = register(client)
    fraction = time.time() % 1
    if fraction > 0.8:  # start early in a second, so every request below lands in it
        time.sleep(1.01 - fraction)
    # exp is the current whole second: on or after it the token must not be accepted (RFC 7519).
    token, claims = create_token(
        settings, subject=uuid.UUID(user.id), token_type="access", lifetime=timedelta(0)
    )
    assert claims.expires_at.timestamp() <= time.time()
    statuses = [client.get("/api/v1/me", headers=bearer(token)).status_code for _ in range(3)]
    if time.time() >= claims.expires_at.timestamp() + 1:
        pytest.skip("the requests did not all land in the second of the token's expiry")
    assert statuses == [401, 401, 401]


def test_deleting_the_account_refuses_its_remembered_token_at_once(client: TestClient) -> None:
    user = register(client)
    other = register(client)
    assert client.get("/api/v1/me", headers=user.headers).status_code == 200
    assert client.get("/api/v1/contacts", headers=user.headers).status_code == 200
    assert any(key[0] == user.access_token for key in security._VERIFIED_ACCESS)
    contact = client.post("/api/v1/contacts", headers=user.headers, json={"full_name": "Bo"})
    interview = client.post(
        "/api/v1/interviews",
        headers=user.headers,
        json={"contact_id": contact.json()["id"], "mode": "phone"},
    )
    assert interview.status_code == 201, interview.text

    r = client.delete("/api/v1/me", headers=user.headers)
    assert r.status_code == 204, r.text

    # Still remembered as a well-signed token, yet refused: the account is gone. Both the
    # operations that load the account and those that only need its id say so.
    assert any(key[0] == user.access_token for key in security._VERIFIED_ACCESS)
    assert_problem(client.get("/api/v1/me", headers=user.headers), 401, "invalid_token")
    assert_problem(client.get("/api/v1/contacts", headers=user.headers), 401, "invalid_token")
    r = client.post("/api/v1/contacts", headers=user.headers, json={"full_name": "Ada"})
    assert_problem(r, 401, "invalid_token")
    # Reads whose own statement checks the caller say 401 too, never 404 or an empty page.
    for path in (
        f"/api/v1/contacts/{contact.json()['id']}",
        f"/api/v1/interviews/{interview.json()['id']}",
        "/api/v1/interviews",
        "/api/v1/interviews?state=request",
        "/api/v1/agenda",
    ):
        assert_problem(client.get(path, headers=user.headers), 401, "invalid_token")
    # Nobody else is affected.
    assert client.get("/api/v1/me", headers=other.headers).json()["id"] == other.id


def test_the_memory_is_keyed_by_secret_audience_and_issuer() -> None:
    signer = unit_settings()
    token, claims = create_token(
        signer, subject=uuid.uuid4(), token_type="access", lifetime=timedelta(minutes=5)
    )
    assert decode_access_token(signer, token) == claims
    assert remembered(signer, token)
    assert decode_access_token(signer, token) == claims  # from memory

    for other in (
        unit_settings(secret_key=OTHER_SECRET),
        unit_settings(jwt_audience="someone-else"),
        unit_settings(jwt_issuer="someone-else"),
    ):
        with pytest.raises(InvalidToken):
            decode_access_token(other, token)
        with pytest.raises(InvalidToken):  # and not remembered as valid by the failure
            decode_access_token(other, token)
        assert not remembered(other, token)
    # The signer's own view is unchanged.
    assert decode_access_token(signer, token) == claims


def test_tokens_that_are_not_access_tokens_here_are_refused_and_never_remembered(
    client: TestClient, settings: Settings
) -> None:
    """A refresh token, and an access token signed with another secret, even once this
    process remembers the user's real access token."""
    user = register(client)
    assert client.get("/api/v1/me", headers=user.headers).status_code == 200  # memory in use
    forged, _ = create_token(
        unit_settings(secret_key=OTHER_SECRET),
        subject=uuid.UUID(user.id),
        token_type="access",
        lifetime=timedelta(minutes=5),
    )
    for token in (user.refresh_token, forged):
        for _ in range(2):  # the second time would come from memory, had the first been kept
            r = client.get("/api/v1/me", headers=bearer(token))
            assert_problem(r, 401, "invalid_token")
            r = client.get("/api/v1/contacts", headers=bearer(token))
            assert_problem(r, 401, "invalid_token")
        assert not any(key[0] == token for key in security._VERIFIED_ACCESS)
        with pytest.raises(InvalidToken):
            decode_access_token(settings, token)
    # The refresh token still does its own job, and the real access token still works.
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": user.refresh_token})
    assert r.status_code == 200, r.text
    assert client.get("/api/v1/me", headers=user.headers).status_code == 200


def test_the_memory_is_bounded(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(security, "_VERIFIED_ACCESS", {})
    monkeypatch.setattr(security, "_VERIFIED_ACCESS_MAX", 3)
    user = register(client)
    tokens = [
        create_token(
            settings,
            subject=uuid.UUID(user.id),
            token_type="access",
            lifetime=timedelta(minutes=5),
        )[0]
        for _ in range(8)
    ]
    for rounds in range(2):
        for token in tokens:
            r = client.get("/api/v1/me", headers=bearer(token))
            assert r.status_code == 200, (rounds, r.text)
            assert len(security._VERIFIED_ACCESS) <= 3
            assert remembered(settings, token)  # the token just verified is kept
    for token in tokens:  # straight through the function too
        decode_access_token(settings, token)
        assert 1 <= len(security._VERIFIED_ACCESS) <= 3
