"""Accounts and sessions: register, log in, rotate and revoke refresh tokens, me, delete me."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from jose import jwt
from sqlalchemy import create_engine, text

import app.kit.security
from app.kit.config import Settings
from app.kit.security import sha256_hex
from tests.factories import PASSWORD, assert_problem, login, register

REGISTER = "/api/v1/auth/register"
TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/me"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def without_request_id(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != "request_id"}


class TestRegister:
    def test_creates_an_account_with_the_email_lower_cased(self, client: TestClient) -> None:
        r = client.post(
            REGISTER,
            json={"email": "Ada@Example.com", "password": PASSWORD, "full_name": "Ada Lovelace"},
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert set(body) == {"id", "email", "full_name", "time_zone", "created_at"}
        assert body["email"] == "ada@example.com"
        assert body["time_zone"] == "UTC"
        assert body["full_name"] == "Ada Lovelace"
        assert body["created_at"].endswith("Z")
        assert r.headers["location"] == ME
        # The account works straight away, whatever the case of the email at login.
        tokens = login(client, "ADA@example.COM")
        me = client.get(ME, headers=bearer(tokens["access_token"]))
        assert me.json()["id"] == body["id"]

    def test_email_is_unique_whatever_its_case(self, client: TestClient) -> None:
        assert client.post(REGISTER, json={"email": "a@x.com", "password": PASSWORD}).status_code
        r = client.post(REGISTER, json={"email": "A@x.com", "password": "another password"})
        assert_problem(r, 409, "email_taken")

    def test_password_of_8_to_128_characters_is_accepted(self, client: TestClient) -> None:
        for n, length in enumerate([8, 128]):
            r = client.post(
                REGISTER, json={"email": f"ada{n}@example.com", "password": "p" * length}
            )
            assert r.status_code == 201, r.text

    def test_password_too_short_or_too_long_is_a_422(self, client: TestClient) -> None:
        for length in (0, 7, 129, 10_000):
            r = client.post(REGISTER, json={"email": "ada@example.com", "password": "p" * length})
            body = assert_problem(r, 422, "validation_error")
            assert [e["loc"] for e in body["errors"]] == [["body", "password"]], length

    def test_unknown_field_is_a_422_and_creates_nothing(self, client: TestClient) -> None:
        r = client.post(
            REGISTER, json={"email": "ada@example.com", "password": PASSWORD, "is_admin": True}
        )
        body = assert_problem(r, 422, "validation_error")
        assert body["errors"][0]["loc"] == ["body", "is_admin"]
        assert body["errors"][0]["type"] == "extra_forbidden"
        # Nothing was created: the same email registers fine afterwards.
        r = client.post(REGISTER, json={"email": "ada@example.com", "password": PASSWORD})
        assert r.status_code == 201, r.text

    def test_invalid_body_is_a_422(self, client: TestClient) -> None:
        payloads: list[dict[str, Any]] = [
            {"email": "not-an-email", "password": PASSWORD},
            {"email": "ada@example.com"},
            {"password": PASSWORD},
            {"email": "ada@example.com", "password": PASSWORD, "full_name": "x" * 201},
            {"email": ["ada@example.com"], "password": PASSWORD},
        ]
        for payload in payloads:
            assert_problem(client.post(REGISTER, json=payload), 422, "validation_error")


class TestToken:
    def test_gives_a_bearer_pair_with_the_required_claims(
        self, client: TestClient, settings: Settings
    ) -> None:
        user = register(client)
        r = client.post(TOKEN, data={"username": user.email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == settings.access_token_minutes * 60 == 900
        claims = jwt.decode(
            body["access_token"],
            settings.secret_key,
            algorithms=["HS256"],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
        )
        assert claims["sub"] == user.id
        assert claims["typ"] == "access"
        assert claims["exp"] - claims["iat"] == 900
        assert claims["jti"]
        assert jwt.get_unverified_header(body["access_token"])["alg"] == "HS256"
        refresh = jwt.get_unverified_claims(body["refresh_token"])
        assert refresh["typ"] == "refresh"
        assert refresh["sub"] == user.id

    def test_wrong_password_and_unknown_email_answer_alike(
        self, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        user = register(client)
        verified: list[str] = []
        real_verify = app.kit.security._password_hash.verify

        def counting_verify(password: str, hash: str) -> bool:
            verified.append(password)
            return real_verify(password, hash)

        monkeypatch.setattr(app.kit.security._password_hash, "verify", counting_verify)
        wrong = client.post(TOKEN, data={"username": user.email, "password": "wrong password"})
        unknown = client.post(
            TOKEN, data={"username": "nobody@example.com", "password": "wrong password"}
        )
        # Both paths burn one argon2 verification, so their timing does not tell them apart.
        assert verified == ["wrong password", "wrong password"]
        first = assert_problem(wrong, 401, "invalid_credentials")
        second = assert_problem(unknown, 401, "invalid_credentials")
        assert without_request_id(first) == without_request_id(second)
        assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"] == "Bearer"
        ignored = {"x-request-id", "date", "content-length"}
        assert {k: v for k, v in wrong.headers.items() if k not in ignored} == {
            k: v for k, v in unknown.headers.items() if k not in ignored
        }

    def test_json_instead_of_the_form_is_a_422(self, client: TestClient) -> None:
        r = client.post(TOKEN, json={"username": "ada@example.com", "password": PASSWORD})
        assert_problem(r, 422, "validation_error")

    def test_missing_password_is_a_422(self, client: TestClient) -> None:
        assert_problem(client.post(TOKEN, data={"username": "ada@example.com"}), 422)


class TestRefresh:
    def test_rotation_gives_a_working_pair_and_retires_the_old_token(
        self, client: TestClient
    ) -> None:
        user = register(client)
        r = client.post(REFRESH, json={"refresh_token": user.refresh_token})
        assert r.status_code == 200, r.text
        pair = r.json()
        assert pair["refresh_token"] != user.refresh_token
        assert pair["access_token"] != user.access_token
        assert client.get(ME, headers=bearer(pair["access_token"])).json()["id"] == user.id
        # The rotated pair rotates again.
        r = client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
        assert r.status_code == 200, r.text

    def test_reuse_of_a_rotated_token_revokes_the_whole_family(self, client: TestClient) -> None:
        user = register(client)
        other_session = login(client, user.email)
        rotated = client.post(REFRESH, json={"refresh_token": user.refresh_token}).json()

        reuse = client.post(REFRESH, json={"refresh_token": user.refresh_token})
        assert_problem(reuse, 401, "refresh_token_reused")
        assert reuse.headers["www-authenticate"] == "Bearer"
        # The token that was handed out by the rotation is revoked with its family ...
        later = client.post(REFRESH, json={"refresh_token": rotated["refresh_token"]})
        assert_problem(later, 401, "invalid_token")
        # ... and so is the original, for good.
        again = client.post(REFRESH, json={"refresh_token": user.refresh_token})
        assert_problem(again, 401)
        # Another login (another family) is untouched.
        r = client.post(REFRESH, json={"refresh_token": other_session["refresh_token"]})
        assert r.status_code == 200, r.text

    def test_refresh_tokens_are_stored_hashed(self, client: TestClient, database_url: str) -> None:
        user = register(client)
        engine = create_engine(database_url)
        try:
            with engine.connect() as conn:
                hashes = list(conn.execute(text("SELECT token_hash FROM refresh_token")).scalars())
        finally:
            engine.dispose()
        assert hashes == [sha256_hex(user.refresh_token)]

    def test_an_access_token_is_not_a_refresh_token(self, client: TestClient) -> None:
        user = register(client)
        r = client.post(REFRESH, json={"refresh_token": user.access_token})
        assert_problem(r, 401, "invalid_token")

    def test_a_forged_refresh_token_is_refused(
        self, client: TestClient, settings: Settings
    ) -> None:
        user = register(client)
        claims = jwt.get_unverified_claims(user.refresh_token)
        claims["jti"] = "0193a5b0-0000-7000-8000-000000000000"
        forged = jwt.encode(claims, settings.secret_key, algorithm="HS256")
        assert_problem(client.post(REFRESH, json={"refresh_token": forged}), 401, "invalid_token")

    def test_bad_body_is_a_422(self, client: TestClient) -> None:
        payloads: list[dict[str, Any]] = [
            {},
            {"refresh_token": ""},
            {"refresh_token": "x", "extra": 1},
            {"refresh_token": 5},
        ]
        for payload in payloads:
            assert_problem(client.post(REFRESH, json=payload), 422, "validation_error")

    def test_garbage_is_a_401(self, client: TestClient) -> None:
        r = client.post(REFRESH, json={"refresh_token": "not.a.token"})
        assert_problem(r, 401, "invalid_token")


class TestLogout:
    def test_revokes_the_family(self, client: TestClient) -> None:
        user = register(client)
        rotated = client.post(REFRESH, json={"refresh_token": user.refresh_token}).json()
        r = client.post(LOGOUT, json={"refresh_token": rotated["refresh_token"]})
        assert r.status_code == 204, r.text
        assert r.content == b""
        for token in (rotated["refresh_token"], user.refresh_token):
            assert_problem(client.post(REFRESH, json={"refresh_token": token}), 401)
        # Logging out twice is refused: the token is no longer valid.
        r = client.post(LOGOUT, json={"refresh_token": rotated["refresh_token"]})
        assert_problem(r, 401, "invalid_token")

    def test_leaves_other_sessions_alone(self, client: TestClient) -> None:
        user = register(client)
        other = login(client, user.email)
        assert client.post(LOGOUT, json={"refresh_token": user.refresh_token}).status_code == 204
        r = client.post(REFRESH, json={"refresh_token": other["refresh_token"]})
        assert r.status_code == 200, r.text

    def test_garbage_is_a_401(self, client: TestClient) -> None:
        assert_problem(client.post(LOGOUT, json={"refresh_token": "nope"}), 401, "invalid_token")


class TestMe:
    def test_answers_with_the_account(self, client: TestClient) -> None:
        user = register(client)
        r = client.get(ME, headers=user.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["id"] == user.id
        assert body["email"] == user.email
        assert "password_hash" not in body
        assert "password" not in r.text

    def test_without_a_token_is_a_401(self, client: TestClient) -> None:
        r = client.get(ME)
        assert_problem(r, 401, "missing_token")
        assert r.headers["www-authenticate"] == "Bearer"


class TestDeleteMe:
    def test_deletes_the_account_and_its_sessions(self, client: TestClient) -> None:
        user = register(client)
        r = client.delete(ME, headers=user.headers)
        assert r.status_code == 204, r.text
        assert_problem(client.get(ME, headers=user.headers), 401, "invalid_token")
        assert_problem(client.post(REFRESH, json={"refresh_token": user.refresh_token}), 401)
        r = client.post(TOKEN, data={"username": user.email, "password": PASSWORD})
        assert_problem(r, 401, "invalid_credentials")
        # The email is free again.
        r = client.post(REGISTER, json={"email": user.email, "password": PASSWORD})
        assert r.status_code == 201, r.text

    def test_leaves_other_accounts_alone(self, client: TestClient) -> None:
        ada, bob = register(client), register(client)
        assert client.delete(ME, headers=ada.headers).status_code == 204
        assert client.get(ME, headers=bob.headers).json()["id"] == bob.id

    def test_without_a_token_is_a_401(self, client: TestClient) -> None:
        assert_problem(client.delete(ME), 401, "missing_token")
