"""Schemathesis against the app: every operation, positive and negative data, stateful runs.

The schema is the app's own ``/openapi.json``, read in process over ASGI when this module is
imported, so whatever routes exist at test time are the ones tested. Requests go to an app
built on a clean migrated database of each backend (SQLite always, PostgreSQL when
configured), with the rate limits out of the way and a registered user's bearer token.

What runs, in ``make test`` (a modest number of examples) and in ``make fuzz`` (``-m fuzz``,
``INFOVIEW_FUZZ_EXAMPLES`` examples per operation, 500 by default there):

- ``test_api``: one test per operation through the examples, coverage (boundary and
  constraint-breaking values for every parameter and body field) and fuzzing phases, in
  positive and negative generation modes;
- ``test_stateful``: scenarios that follow the OpenAPI links the app declares
  (``app/links.py``): create a contact, then read, change, delete it, interview it, write
  to it; move interviews, send letters, rotate webhook secrets.

Every check Schemathesis has must pass, notably ``not_a_server_error``,
``status_code_conformance``, ``content_type_conformance``, ``response_schema_conformance``,
``negative_data_rejection``, ``ignored_auth`` and ``use_after_free``, but one:
``positive_data_acceptance`` is off (in ``_config``), because schema-valid data can still break
a business rule the schema cannot state (a reference to a contact that does not exist, an
expiry in the past, a letter asking for a job) and a 422 is then the right answer. And a
``filter_case`` hook drops one kind of generated case that is not negative on the wire (see
``RAW_TEXT_BODIES``).
"""

from __future__ import annotations

import collections
import copy
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis.core.parameters import ParameterLocation
from sqlalchemy import create_engine, text
from sqlmodel import SQLModel

from app.kit.config import Settings
from app.links import add_links
from app.main import create_app
from tests.conftest import TEST_SECRET
from tests.factories import assert_problem, register

QUICK_EXAMPLES = 3
LONG_EXAMPLES = int(os.environ.get("INFOVIEW_FUZZ_EXAMPLES") or 100)
PASSWORD = "correct horse battery"
# Operations that end the caller's account get a fresh one each time.
ACCOUNT_ENDING = {"DELETE /api/v1/me"}
HYPOTHESIS: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": list(hypothesis.HealthCheck),
    "database": None,
}
# The same examples on every run: `make test` must not pass or fail by the draw of the day;
# `make fuzz` (the *_long tests) explores freely.
QUICK_HYPOTHESIS = {**HYPOTHESIS, "derandomize": True}


def _config(*, examples: int, import_coverage: bool) -> schemathesis.Config:
    operations: list[dict[str, Any]] = []
    if not import_coverage:
        # The account import's document has a thousand constraint-breaking variants; the
        # coverage phase sends them all. The quick run fuzzes it; the long run covers it.
        operations.append(
            {"include-operation-id": "import-account", "phases": {"coverage": {"enabled": False}}}
        )
    return schemathesis.Config.from_dict(
        {
            "generation": {"max-examples": examples, "mode": "all"},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": True},
            },
            "checks": {"positive_data_acceptance": {"enabled": False}},
            "operations": operations,
        }
    )


def _document_app() -> FastAPI:
    # Serves the document only; its engine never connects.
    return create_app(
        Settings(
            env="test",
            database_url=f"sqlite:///{Path(tempfile.gettempdir()) / 'infoview-fuzz-unused.db'}",
            secret_key=TEST_SECRET,
            run_dispatcher=False,
        )
    )


_DOCUMENT_APP = _document_app()
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", _DOCUMENT_APP, config=_config(examples=QUICK_EXAMPLES, import_coverage=False)
)
long_schema = schemathesis.openapi.from_asgi(
    "/openapi.json", _DOCUMENT_APP, config=_config(examples=LONG_EXAMPLES, import_coverage=True)
)


# Raw text bodies: whatever Schemathesis generates is sent as text, so a "not a string" body
# (an integer, say) reaches the server as a perfectly good file; Schemathesis only knows this of
# text/plain, and would call the import's answer to such a file "negative data accepted".
RAW_TEXT_BODIES = {"text/csv", "text/vcard", "text/x-vcard"}


def filter_case(context: Any, case: Any) -> bool:
    """Drop cases whose only "invalid" part is a raw text body that was not a string."""
    return not (
        case.media_type in RAW_TEXT_BODIES
        and case.meta is not None
        and case.meta.is_negative_at(ParameterLocation.BODY)
        and not isinstance(case.body, str | bytes)
    )


for _schema in (schema, long_schema):
    _schema.hook(filter_case)


@dataclass
class Target:
    """The app under test, the token every request carries, and what the run saw."""

    app: FastAPI
    token: str
    seen: collections.Counter[tuple[str, int]] = field(default_factory=collections.Counter)

    def headers_for(self, label: str) -> dict[str, str]:
        token = _token(self.app) if label in ACCOUNT_ENDING else self.token
        return {"Authorization": f"Bearer {token}"}


def _token(app: FastAPI) -> str:
    """Register a new account and log in; the access token."""
    email = f"fuzz-{uuid.uuid4().hex[:12]}@example.com"
    client = TestClient(app)
    r = client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


def _truncate(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """The app on a clean migrated database, shared by this module's tests on that backend.

    One app per backend rather than per operation: building one takes a second or two, and the
    operations do not get in each other's way (each scenario creates what it uses).
    """
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path_factory.mktemp("fuzz") / "infoview.db"
        shutil.copyfile(template, path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_database")
        _truncate(url)
    settings = Settings(
        env="test",
        database_url=url,
        secret_key=TEST_SECRET,
        run_dispatcher=False,
        webhook_allow_private=True,
        rate_limit_writes_per_minute=10**6,
        rate_limit_auth_per_minute=10**6,
        access_token_minutes=24 * 60,
    )
    app = create_app(settings)
    yield Target(app, _token(app))
    app.state.engine.dispose()


def _call_and_validate(case: Any, target: Target) -> None:
    response = case.call_and_validate(
        app=target.app, headers=target.headers_for(case.operation.label)
    )
    target.seen[(case.operation.label, response.status_code)] += 1


@schema.parametrize()
@hypothesis.settings(**QUICK_HYPOTHESIS)
def test_api(case: Any, target: Target) -> None:
    _call_and_validate(case, target)


@pytest.mark.fuzz
@long_schema.parametrize()
@hypothesis.settings(**HYPOTHESIS)
def test_api_long(case: Any, target: Target) -> None:
    _call_and_validate(case, target)


def _run_stateful(
    api_schema: Any, target: Target, *, scenarios: int, steps: int, quick: bool
) -> None:
    """Run the links-driven state machine against ``target``, with its token on every call."""
    base = api_schema.as_state_machine()
    failures: list[Exception] = []
    completed = [0]

    class Machine(base):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"app": target.app, "headers": target.headers_for(case.operation.label)}

        def teardown(self) -> None:
            completed[0] += 1
            super().teardown()

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            target.seen[(case.operation.label, response.status_code)] += 1

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            # As the base class, but the token counts as credentials the caller chose, so
            # `ignored_auth` retries without it (and with a wrong one) and expects a 401.
            try:
                case.validate_response(
                    response,
                    headers=kwargs.get("headers"),
                    additional_checks=additional_checks,
                    transport_kwargs=kwargs,
                    recorder=self.recorder,
                )
            except Exception as exc:
                failures.append(exc)
                raise

    # A scenario's draws depend on what the server answered (the links follow real ids), so
    # Hypothesis, replaying a prefix against a database that has moved on, may see different
    # draws and stop with `Flaky`. That is not a failure of the API (check failures are
    # recorded above as they happen and reported first); like Schemathesis' own runner, carry
    # on with the scenarios left. No shrinking, for the same reason.
    remaining = scenarios
    for _ in range(10):
        try:
            Machine.run(
                settings=hypothesis.settings(
                    max_examples=remaining,
                    stateful_step_count=steps,
                    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
                    **(QUICK_HYPOTHESIS if quick else HYPOTHESIS),
                )
            )
            return
        except Exception as exc:
            if failures:
                raise failures[0] from None
            if not isinstance(exc, hypothesis.errors.Flaky):
                raise
        remaining = scenarios - completed[0]
        if remaining <= 0:
            return


def _reached_through_links(target: Target) -> set[str]:
    """Operations on an existing resource (a path id) that answered with success."""
    return {label for (label, status), _ in target.seen.items() if "{" in label and status < 300}


def test_stateful(target: Target) -> None:
    target.seen.clear()
    _run_stateful(schema, target, scenarios=20, steps=8, quick=True)
    assert _reached_through_links(target), target.seen


@pytest.mark.fuzz
def test_stateful_long(target: Target) -> None:
    target.seen.clear()
    _run_stateful(long_schema, target, scenarios=LONG_EXAMPLES, steps=20, quick=False)
    assert _reached_through_links(target), target.seen


def test_every_link_resolves() -> None:
    """Each link in app/links.py names operations, statuses and fields that exist."""
    document = copy.deepcopy(_DOCUMENT_APP.openapi())
    assert add_links(document) == []
    operations = {
        op["operationId"]: op for item in document["paths"].values() for op in item.values()
    }
    for operation in operations.values():
        for response in operation["responses"].values():
            for name, link in response.get("links", {}).items():
                target = operations[link["operationId"]]
                params = {p["name"] for p in target.get("parameters", [])}
                for key in link.get("parameters", {}):
                    assert key.split(".", 1)[-1] in params, (operation["operationId"], name)
    assert schema.as_state_machine().schema.statistic.transitions.total > 0


def test_every_authenticated_operation_declares_a_bearer_scheme() -> None:
    """``ignored_auth`` can only probe schemes it understands (http, apiKey), not OAuth2 flows."""
    document = _DOCUMENT_APP.openapi()
    schemes = document["components"]["securitySchemes"]
    bearer = [
        name for name, s in schemes.items() if (s["type"], s.get("scheme")) == ("http", "bearer")
    ]
    assert bearer
    for path, item in document["paths"].items():
        for method, operation in item.items():
            security = operation.get("security")
            if security:
                assert any(b in requirement for b in bearer for requirement in security), (
                    method,
                    path,
                )


class TestWhatFuzzingFound:
    """Regressions for the bugs these runs found, in plain requests (both databases)."""

    @pytest.fixture
    def user(self, client: TestClient) -> dict[str, str]:
        return register(client).headers

    @pytest.fixture
    def contact_id(self, client: TestClient, user: dict[str, str]) -> str:
        r = client.post("/api/v1/contacts", json={"full_name": "Dana Reyes"}, headers=user)
        assert r.status_code == 201, r.text
        contact_id: str = r.json()["id"]
        return contact_id

    def test_nul_in_a_json_field_is_a_422_naming_it(
        self, client: TestClient, user: dict[str, str]
    ) -> None:
        r = client.post(
            "/api/v1/contacts", json={"full_name": "Dana", "tags": ["a", "b\x00"]}, headers=user
        )
        body = assert_problem(r, 422, "validation_error")
        assert body["errors"] == [
            {
                "loc": ["body", "tags", 1],
                "msg": "must not contain the NUL character (U+0000)",
                "type": "nul_character",
            }
        ]
        assert client.get("/api/v1/contacts", headers=user).json()["data"] == []

    def test_nul_in_a_query_filter_a_form_or_a_file_is_a_422(
        self, client: TestClient, user: dict[str, str]
    ) -> None:
        r = client.get("/api/v1/contacts", params={"q": "a\x00"}, headers=user)
        assert assert_problem(r, 422)["errors"][0]["loc"] == ["query", "q"]
        r = client.post("/api/v1/auth/token", data={"username": "a\x00@b.c", "password": "x"})
        assert assert_problem(r, 422)["errors"][0]["loc"] == ["body", "username"]
        r = client.post(
            "/api/v1/contacts/import",
            content=b"full_name\nDana\x00\n",
            headers={**user, "Content-Type": "text/csv"},
        )
        # A file is checked line by line as the import decodes it: the problem names the line.
        problem = assert_problem(r, 422, "nul_character")
        assert problem["errors"] == [{"line": 2, "message": "the line holds a NUL character"}]

    def test_nul_in_a_query_parameter_the_route_does_not_take_is_ignored(
        self, client: TestClient, user: dict[str, str]
    ) -> None:
        assert client.get("/api/v1/me", params={"x": "\x00"}, headers=user).status_code == 200

    def test_escaped_backslash_u0000_is_ordinary_text(
        self, client: TestClient, user: dict[str, str]
    ) -> None:
        r = client.post("/api/v1/contacts", json={"full_name": "\\u0000"}, headers=user)
        assert r.status_code == 201, r.text
        assert r.json()["full_name"] == "\\u0000"

    @pytest.mark.parametrize("value", ["0.5", "1700000000"])
    def test_a_number_is_not_a_timestamp(
        self, client: TestClient, user: dict[str, str], contact_id: str, value: str
    ) -> None:
        r = client.get("/api/v1/interviews", params={"updated_since": value}, headers=user)
        assert_problem(r, 422)
        r = client.get("/api/v1/agenda", params={"due_before": value}, headers=user)
        assert_problem(r, 422)
        r = client.post(
            "/api/v1/interviews",
            json={"contact_id": contact_id, "scheduled_at": float(value)},
            headers=user,
        )
        assert_problem(r, 422)

    def test_interview_numbers_and_ticks_are_json_numbers_and_booleans(
        self, client: TestClient, user: dict[str, str], contact_id: str
    ) -> None:
        r = client.post(
            "/api/v1/interviews",
            json={"contact_id": contact_id, "duration_minutes": "30"},
            headers=user,
        )
        assert_problem(r, 422)
        for refused in (True, 30.5):
            r = client.post(
                "/api/v1/interviews",
                json={"contact_id": contact_id, "duration_minutes": refused},
                headers=user,
            )
            assert_problem(r, 422)
        # JSON Schema's integer is a number without a fraction: 30.0 is 30.
        r = client.post(
            "/api/v1/interviews",
            json={"contact_id": contact_id, "duration_minutes": 30.0},
            headers=user,
        )
        assert r.status_code == 201, r.text
        assert r.json()["duration_minutes"] == 30
        r = client.post("/api/v1/interviews", json={"contact_id": contact_id}, headers=user)
        interview_id = r.json()["id"]
        for done in ("true", 1, None):
            r = client.patch(
                f"/api/v1/interviews/{interview_id}/checklist",
                json={"research": {"done": done}},
                headers=user,
            )
            assert_problem(r, 422)

    def test_allow_lists_the_methods_of_the_most_specific_route(self, client: TestClient) -> None:
        for method in ("OPTIONS", "PATCH", "GET"):
            r = client.request(method, "/api/v1/letters/draft")
            assert_problem(r, 405)
            assert r.headers["Allow"] == "POST"
        r = client.request("PUT", f"/api/v1/letters/{uuid.uuid4()}")
        assert r.headers["Allow"] == "DELETE, GET, PATCH"
