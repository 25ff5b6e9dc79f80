"""Every way a bearer token can be wrong ends in a 401 with ``WWW-Authenticate: Bearer``.

The bad tokens are forged here with python-jose (or by hand, for ``alg: none`` and the tampered
payload) from a real account, next to a well-formed control token that does work, so that each
401 is caused by the one thing that is wrong with the token.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jose import jwt

from app.kit.config import Settings
from tests.factories import PASSWORD, assert_problem, login, register

ME = "/api/v1/me"
OTHER_SECRET = "another-secret-key-that-is-long-enough-9876543210"


def b64url(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(segment: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded


def claims_for(settings: Settings, subject: str, **overrides: Any) -> dict[str, Any]:
    """The claims of a valid access token for ``subject``; ``None`` in overrides drops a claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + 600,
        "jti": str(uuid.uuid4()),
        "typ": "access",
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def sign(claims: dict[str, Any], key: str, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def assert_unauthorized(client: TestClient, token: str | None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    r = client.get(ME, headers=headers)
    body = assert_problem(r, 401)
    assert body["code"] in {"missing_token", "invalid_token"}
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.fixture
def user_id(client: TestClient) -> str:
    r = client.post(
        "/api/v1/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert r.status_code == 201, r.text
    uid: str = r.json()["id"]
    return uid


def test_the_control_token_works(client: TestClient, settings: Settings, user_id: str) -> None:
    """The forging below is right: a token made the same way with nothing wrong is accepted."""
    token = sign(claims_for(settings, user_id), settings.secret_key)
    r = client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == user_id


def _alg_none(settings: Settings, uid: str) -> str:
    return f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{b64url(claims_for(settings, uid))}."


def _alg_none_with_signature(settings: Settings, uid: str) -> str:
    valid = sign(claims_for(settings, uid), settings.secret_key)
    _, payload, signature = valid.split(".")
    return f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{payload}.{signature}"


def _tampered(settings: Settings, uid: str) -> str:
    """Change ``sub`` to another (real-looking) id, keeping the header and the signature."""
    header, payload, signature = sign(claims_for(settings, uid), settings.secret_key).split(".")
    claims = b64url_decode(payload)
    claims["sub"] = str(uuid.uuid4())
    return f"{header}.{b64url(claims)}.{signature}"


def _tampered_expiry(settings: Settings, uid: str) -> str:
    """Stretch the expiry of an expired token, keeping the signature."""
    expired = claims_for(settings, uid, iat=int(time.time()) - 3600, exp=int(time.time()) - 60)
    header, payload, signature = sign(expired, settings.secret_key).split(".")
    claims = b64url_decode(payload)
    claims["exp"] = int(time.time()) + 3600
    return f"{header}.{b64url(claims)}.{signature}"


def _without(claim: str) -> Callable[[Settings, str], str]:
    def make(settings: Settings, uid: str) -> str:
        return sign(claims_for(settings, uid, **{claim: None}), settings.secret_key)

    return make


BAD_TOKENS: dict[str, Callable[[Settings, str], str]] = {
    "expired": lambda s, uid: sign(
        claims_for(s, uid, iat=int(time.time()) - 3600, exp=int(time.time()) - 1), s.secret_key
    ),
    "alg none": _alg_none,
    "alg none keeping a signature": _alg_none_with_signature,
    "wrong key": lambda s, uid: sign(claims_for(s, uid), OTHER_SECRET),
    "HS512 with the right key": lambda s, uid: sign(claims_for(s, uid), s.secret_key, "HS512"),
    "wrong audience": lambda s, uid: sign(claims_for(s, uid, aud="someone-else"), s.secret_key),
    "wrong issuer": lambda s, uid: sign(claims_for(s, uid, iss="evil"), s.secret_key),
    "refresh type": lambda s, uid: sign(claims_for(s, uid, typ="refresh"), s.secret_key),
    "unknown type": lambda s, uid: sign(claims_for(s, uid, typ="admin"), s.secret_key),
    "tampered subject": _tampered,
    "tampered expiry": _tampered_expiry,
    "sub not a uuid": lambda s, uid: sign(claims_for(s, uid, sub="1"), s.secret_key),
    "unknown subject": lambda s, uid: sign(claims_for(s, str(uuid.uuid4())), s.secret_key),
    "jti not a uuid": lambda s, uid: sign(claims_for(s, uid, jti="x"), s.secret_key),
    "not a jwt": lambda s, uid: "not-a-jwt",
    "empty signature": lambda s, uid: (
        sign(claims_for(s, uid), s.secret_key).rsplit(".", 1)[0] + "."
    ),
    **{
        f"missing {claim}": _without(claim)
        for claim in ("exp", "iat", "sub", "iss", "aud", "jti", "typ")
    },
}


def test_every_bad_token_is_a_401(client: TestClient, settings: Settings, user_id: str) -> None:
    """One account, every kind of bad token (a loop: one app and one argon2 hash, not 23)."""
    accepted = []
    for kind, make in BAD_TOKENS.items():
        r = client.get(ME, headers={"Authorization": f"Bearer {make(settings, user_id)}"})
        ok = (
            r.status_code == 401
            and r.headers.get("www-authenticate") == "Bearer"
            and r.headers["content-type"].startswith("application/problem+json")
            and r.json()["code"] == "invalid_token"
            and r.json()["request_id"] == r.headers["x-request-id"]
        )
        if not ok:
            accepted.append(f"{kind}: {r.status_code} {r.text}")
    assert accepted == []


def test_no_token_is_a_401(client: TestClient) -> None:
    assert_unauthorized(client, None)
    r = client.get(ME, headers={"Authorization": "Basic YWRhOnNlY3JldA=="})
    assert_problem(r, 401, "missing_token")
    assert r.headers["www-authenticate"] == "Bearer"


def test_a_real_refresh_token_is_not_an_access_token(client: TestClient) -> None:
    user = register(client)
    assert_unauthorized(client, user.refresh_token)


def test_a_token_of_a_deleted_user_is_a_401(client: TestClient) -> None:
    user = register(client)
    second_token = login(client, user.email)["access_token"]
    assert client.delete(ME, headers=user.headers).status_code == 204
    assert_unauthorized(client, user.access_token)
    assert_unauthorized(client, second_token)


def test_a_token_signed_for_another_deployment_is_a_401(
    client: TestClient, settings: Settings, user_id: str
) -> None:
    """Same subject, same claims, but another deployment's key and audience."""
    token = sign(claims_for(settings, user_id, aud="infoview-staging"), OTHER_SECRET)
    assert_unauthorized(client, token)
