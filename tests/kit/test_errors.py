"""Every failure is an RFC 9457 problem document with the request id; none is an accidental 500."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.kit.config import Settings
from app.main import create_app
from tests.factories import PASSWORD, assert_problem
from tests.factories import register as register_user

REGISTER = "/api/v1/auth/register"
LIMIT = 1024 * 1024
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


def json_post(client: TestClient, path: str, body: bytes, **headers: str) -> Any:
    return client.post(path, content=body, headers={"Content-Type": "application/json", **headers})


def padded_registration(size: int) -> bytes:
    """A valid registration body padded with JSON whitespace to exactly ``size`` bytes."""
    body = b'{"email": "ada@example.com", "password": "correct horse battery"}'
    return body[:-1] + b" " * (size - len(body)) + b"}"


class TestUnknownRoutesAndMethods:
    def test_unknown_route_is_a_404_problem(self, client: TestClient) -> None:
        r = client.get("/api/v1/nothing-here")
        body = assert_problem(r, 404, "not_found")
        assert "/api/v1/nothing-here" in body["detail"]

    def test_unknown_route_outside_the_api_is_a_404_problem(self, client: TestClient) -> None:
        assert_problem(client.post("/nowhere", json={}), 404, "not_found")

    def test_wrong_method_is_a_405_problem_listing_every_allowed_method(
        self, client: TestClient
    ) -> None:
        r = client.post("/api/v1/me")
        body = assert_problem(r, 405, "method_not_allowed")
        # GET, PATCH and DELETE are three routes on one path; Allow names them all.
        assert r.headers["allow"] == "DELETE, GET, PATCH"
        assert "DELETE, GET, PATCH" in body["detail"]

    def test_put_on_a_post_only_route(self, client: TestClient) -> None:
        r = client.put(REGISTER, json={})
        assert_problem(r, 405, "method_not_allowed")
        assert r.headers["allow"] == "POST"


class TestMalformedBodies:
    def test_malformed_json_is_a_422_malformed_json(self, client: TestClient) -> None:
        bodies = {
            "truncated": b'{"email": "ada@example.com", ',
            "text": b"not json at all",
            "trailing comma": b'{"email": "ada@example.com", "password": "x",}',
            "bad utf-8": b'{"email": "\xff\xfe", "password": "correct horse battery"}',
            "huge number": b'{"email": "ada@example.com", "password": ' + b"9" * 5000 + b"}",
        }
        for name, body in bodies.items():
            r = json_post(client, REGISTER, body)
            problem = assert_problem(r, 422, "malformed_json")
            assert problem["errors"][0]["type"] == "json_invalid", name
            assert problem["errors"][0]["loc"][0] == "body", name
        # Nesting beyond any recursion limit, or just beyond the API's own, is refused unparsed.
        for depth in (100_000, 65):
            r = json_post(client, REGISTER, b"[" * depth + b"]" * depth)
            problem = assert_problem(r, 422, "malformed_json")
            assert problem["errors"] == [
                {
                    "loc": ["body"],
                    "msg": "must not nest arrays and objects more than 64 levels deep",
                    "type": "json_too_deep",
                }
            ]

    def test_wrong_types_list_every_field(self, client: TestClient) -> None:
        r = client.post(
            REGISTER, json={"email": 5, "password": ["correct horse"], "full_name": {"a": 1}}
        )
        body = assert_problem(r, 422, "validation_error")
        assert {tuple(e["loc"]) for e in body["errors"]} == {
            ("body", "email"),
            ("body", "password"),
            ("body", "full_name"),
        }
        for error in body["errors"]:
            assert isinstance(error["msg"], str) and error["msg"]
            assert isinstance(error["type"], str) and error["type"]
            assert "input" not in error  # the rejected values are not echoed back

    def test_json_that_is_not_an_object_is_a_422(self, client: TestClient) -> None:
        for body in (b"[1, 2]", b"null", b'"ada"', b"42"):
            assert_problem(json_post(client, REGISTER, body), 422, "validation_error")

    def test_empty_body_is_a_422(self, client: TestClient) -> None:
        assert_problem(json_post(client, REGISTER, b""), 422, "validation_error")

    def test_a_body_that_is_not_json_is_a_4xx_problem(self, client: TestClient) -> None:
        r = client.post(REGISTER, content=b"email=ada", headers={"Content-Type": "text/plain"})
        assert_problem(r, 422)
        r = client.post(
            "/api/v1/auth/token",
            content=b"garbage",
            headers={"Content-Type": "multipart/form-data"},
        )
        assert 400 <= r.status_code < 500
        assert_problem(r, r.status_code)

    def test_a_json_body_sent_without_saying_so_is_told_to_say_so(self, client: TestClient) -> None:
        body = b'{"email": "ada@example.com", "password": "correct horse battery"}'
        for headers, named in (({"Content-Type": "text/plain"}, "text/plain"), ({}, "none")):
            problem = assert_problem(client.post(REGISTER, content=body, headers=headers), 422)
            assert "Content-Type: application/json" in problem["detail"]
            assert f"content type: {named})" in problem["detail"]
        wrong = assert_problem(json_post(client, REGISTER, b"[1, 2]"), 422, "validation_error")
        assert "Content-Type" not in wrong["detail"]


class TestRepeatedQueryParameters:
    def test_a_parameter_that_takes_one_value_given_two_is_a_422(self, client: TestClient) -> None:
        user = register_user(client)
        r = client.get("/api/v1/contacts?tag=mentor&tag=audit&limit=5", headers=user.headers)
        problem = assert_problem(r, 422, "validation_error")
        assert problem["errors"] == [
            {
                "loc": ["query", "tag"],
                "msg": "takes one value: give it once",
                "type": "repeated_parameter",
            }
        ]
        r = client.get("/api/v1/interviews?state=held&state=cancelled", headers=user.headers)
        assert assert_problem(r, 422)["errors"][0]["loc"] == ["query", "state"]

    def test_one_value_each_and_lists_go_through(self, client: TestClient) -> None:
        user = register_user(client)
        r = client.get("/api/v1/contacts?tag=mentor&archived=false&limit=5", headers=user.headers)
        assert r.status_code == 200, r.text
        r = client.get("/api/v1/search?q=audit&kind=contact&kind=letter", headers=user.headers)
        assert r.status_code == 200, r.text


class TestProblemTitles:
    def test_a_status_has_one_title_whoever_answers(self, client: TestClient) -> None:
        """The framework's 404 and 422 read like the app's own: RFC 9110's words."""
        route = assert_problem(client.get("/api/v1/nothing-here"), 404)
        user = register_user(client)
        record = assert_problem(
            client.get(f"/api/v1/contacts/{uuid.uuid4()}", headers=user.headers), 404
        )
        assert route["title"] == record["title"] == "Not found"
        invalid = assert_problem(json_post(client, REGISTER, b"[1, 2]"), 422)
        assert invalid["title"] == "Unprocessable content"
        method = assert_problem(client.post("/api/v1/me"), 405)
        assert method["title"] == "Method not allowed"


class TestBodyLimit:
    def test_a_body_at_the_limit_is_accepted(self, client: TestClient) -> None:
        r = json_post(client, REGISTER, padded_registration(LIMIT))
        assert r.status_code == 201, r.text

    def test_a_byte_over_the_limit_is_a_413(self, client: TestClient) -> None:
        r = json_post(client, REGISTER, padded_registration(LIMIT + 1))
        assert_problem(r, 413, "payload_too_large")

    def test_a_2_mib_body_with_content_length_is_a_413_and_changes_nothing(
        self, client: TestClient
    ) -> None:
        r = json_post(client, REGISTER, padded_registration(2 * LIMIT))
        assert r.request.headers["content-length"] == str(2 * LIMIT)
        assert_problem(r, 413, "payload_too_large")
        # Nothing was registered: the same email is still free.
        r = client.post(REGISTER, json={"email": "ada@example.com", "password": PASSWORD})
        assert r.status_code == 201, r.text

    def test_a_2_mib_chunked_upload_is_a_413(self, client: TestClient) -> None:
        def chunks() -> Iterator[bytes]:
            yield b'{"email": "ada@example.com", "password": "correct horse battery", "x": "'
            for _ in range(32):
                yield b"x" * 65536
            yield b'"}'

        r = client.post(REGISTER, content=chunks(), headers={"Content-Type": "application/json"})
        assert "content-length" not in r.request.headers
        assert r.request.headers["transfer-encoding"] == "chunked"
        assert_problem(r, 413, "payload_too_large")

    def test_a_small_chunked_upload_goes_through(self, client: TestClient) -> None:
        def chunks() -> Iterator[bytes]:
            yield b'{"email": "ada@example.com", '
            yield b'"password": "correct horse battery"}'

        r = client.post(REGISTER, content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 201, r.text


@pytest.fixture
def failing_client(settings: Settings) -> Iterator[TestClient]:
    """The app with one extra route that fails the way a bug would."""
    application = create_app(settings)

    async def explode() -> None:
        """Fail."""
        raise RuntimeError("database password is hunter2")

    application.add_api_route("/test-only/explode", explode, operation_id="test-explode")
    with TestClient(application, raise_server_exceptions=False) as test_client:
        yield test_client
    application.state.engine.dispose()


class TestUnhandledErrors:
    def test_is_a_500_problem_without_a_traceback(self, failing_client: TestClient) -> None:
        r = failing_client.get("/test-only/explode")
        body = assert_problem(r, 500, "internal_error")
        assert GENERATED_ID.match(r.headers["x-request-id"])
        assert "hunter2" not in r.text
        assert "Traceback" not in r.text
        assert "RuntimeError" not in r.text
        assert set(body) == {"type", "title", "status", "detail", "code", "request_id"}

    def test_carries_the_clients_request_id(self, failing_client: TestClient) -> None:
        r = failing_client.get("/test-only/explode", headers={"X-Request-ID": "trace-500"})
        assert r.headers["x-request-id"] == "trace-500"
        assert assert_problem(r, 500)["request_id"] == "trace-500"

    def test_the_app_keeps_serving_afterwards(self, failing_client: TestClient) -> None:
        assert failing_client.get("/test-only/explode").status_code == 500
        assert failing_client.get("/healthz").status_code == 200


class TestRequestId:
    def test_a_sane_client_id_is_echoed(self, client: TestClient) -> None:
        for sane in ("abc", "req-123_abc.DEF:9", "0193a5b0-c2d4-7e3f-8a1b-2c3d4e5f6a7b", "r" * 128):
            r = client.get("/healthz", headers={"X-Request-ID": sane})
            assert r.headers["x-request-id"] == sane
            r = client.get("/api/v1/me", headers={"X-Request-ID": sane})
            assert assert_problem(r, 401)["request_id"] == sane

    def test_an_insane_client_id_is_replaced(self, client: TestClient) -> None:
        for insane in ("has spaces", "x" * 300, "r" * 129, "", "semi;colon", 'quote"d', "caf\xe9"):
            # Sent as bytes, so that a Latin-1 value reaches the server as it is.
            r = client.get("/api/v1/me", headers={"X-Request-ID": insane.encode("latin-1")})
            replaced = r.headers["x-request-id"]
            assert replaced != insane
            assert GENERATED_ID.match(replaced), insane
            assert assert_problem(r, 401)["request_id"] == replaced

    def test_every_response_gets_a_fresh_id(self, client: TestClient) -> None:
        ids = {client.get("/healthz").headers["x-request-id"] for _ in range(3)}
        assert len(ids) == 3
        assert all(GENERATED_ID.match(i) for i in ids)

    def test_successful_api_responses_carry_it_too(self, client: TestClient) -> None:
        r = client.post(REGISTER, json={"email": "ada@example.com", "password": PASSWORD})
        assert r.status_code == 201
        assert GENERATED_ID.match(r.headers["x-request-id"])
