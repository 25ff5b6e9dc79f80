"""What a client sees of routing: 405 with the path's methods, 404 problems for unknown
paths, redirects, and routes that share a prefix matched in their declared order."""

from __future__ import annotations

import re
import uuid

from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Match, Mount, Route

from app.kit.config import Settings
from app.kit.route_index import MATCHED_ROUTE, RouteIndex, index_routes
from app.main import create_app
from tests.factories import assert_problem, register


def test_wrong_method_is_405_with_the_paths_methods(client: TestClient) -> None:
    user = register(client)
    r = client.put(f"/api/v1/interviews/{uuid.uuid4()}", headers=user.headers, json={})
    assert_problem(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "DELETE, GET, PATCH"

    r = client.patch("/api/v1/letters/draft", headers=user.headers, json={})
    assert_problem(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "POST"

    r = client.get("/api/v1/contacts/import", headers=user.headers)
    assert_problem(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "POST"

    r = client.post("/healthz")
    assert_problem(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "GET"


def test_unknown_paths_redirects_and_documents_answer_as_before(client: TestClient) -> None:
    for path in ("/api/v1/nope", "/api/v1/nope/deeper/still", "/api/v2/contacts", "/nope"):
        body = assert_problem(client.get(path), 404, "not_found")
        assert path in body["detail"]
    r = client.get("/healthz/", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"].endswith("/healthz")

    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    r = client.get("/openapi.json")
    assert r.status_code == 200
    assert "/api/v1/contacts/{contact_id}" in r.json()["paths"]
    assert client.get("/docs").status_code == 200


def test_contact_import_is_not_taken_by_the_contact_id_routes(client: TestClient) -> None:
    """``/contacts/import`` is declared before ``/contacts/{contact_id}`` and wins, as declared."""
    user = register(client)
    r = client.post(
        "/api/v1/contacts/import",
        content=b"full_name,email\nAda Lovelace,ada@example.com\n",
        headers={**user.headers, "Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 1
    listed = client.get("/api/v1/contacts", headers=user.headers).json()
    contact = next(c for c in listed["data"] if c["full_name"] == "Ada Lovelace")
    # ...and a real id still reaches /contacts/{contact_id}.
    r = client.get(f"/api/v1/contacts/{contact['id']}", headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json()["email"] == "ada@example.com"


def test_every_operation_is_served_as_declared_from_one_flat_table(client: TestClient) -> None:
    """Each operation is a route of the app's own table, declared with its full path: no
    included router stands between a request and its route (FastAPI tries an included
    router's routes one by one with bookkeeping around each, then matches again)."""
    table = client.app.routes  # type: ignore[attr-defined]
    operations = [
        context
        for context in iter_route_contexts(table)
        if isinstance(context.original_route, APIRoute)
    ]
    assert len(operations) > 100
    for context in operations:
        assert context.original_route in table, context.path
        assert context.original_route.path == context.path
    index, *routes = table
    assert isinstance(index, RouteIndex)  # in front of the table: see the next test
    assert all(isinstance(route, (APIRoute, Route, Mount)) for route in routes)


def _concrete(template: str) -> str:
    """A path the template matches: each parameter given a value of its kind."""
    return re.sub(r"{[^}]+}", lambda m: str(uuid.UUID(int=7)) if "id" in m[0] else "x", template)


def _linear(table: list[BaseRoute], scope: dict[str, object]) -> BaseRoute | None:
    """The route the table itself would choose: the first that matches fully."""
    for route in table:
        if route.matches(scope)[0] is Match.FULL:
            return route
    return None


def test_the_route_index_chooses_what_the_table_would(client: TestClient) -> None:
    """For every route, and for paths no route takes, the index in front of the table answers
    with the route a search of the whole table finds, or leaves the request to the table."""
    index, *table = client.app.routes  # type: ignore[attr-defined]
    assert isinstance(index, RouteIndex)
    paths = [
        (route.path, method)
        for route in table
        if isinstance(route, Route)
        for method in sorted(route.methods or ())
    ]
    paths += [("/docs/assets/swagger-ui.css", "GET"), ("/api/v1/contacts/import", "POST")]
    misses = [
        ("/api/v1/nope", "GET"),
        ("/api/v1/contacts", "PUT"),
        ("/healthz/", "GET"),
        ("/api/v1", "GET"),
        ("/", "GET"),
        ("/oauth/token", "GET"),
    ]
    for template, method in paths + misses:
        scope = {"type": "http", "path": _concrete(template), "root_path": "", "method": method}
        chosen = _linear(table, scope)
        match, child = index.matches(scope)
        if chosen is None:
            assert match is Match.NONE, (template, method)
        else:
            assert match is Match.FULL and child[MATCHED_ROUTE] is chosen, (template, method)
    assert index_routes([*table, Route("/{anything}", lambda request: None)]) is None


def test_with_telemetry_on_the_table_is_searched_as_it_is(settings: Settings) -> None:
    """FastAPI's telemetry names a span by the route the table chose: no index then."""
    application = create_app(settings.model_copy(update={"opentelemetry": True}))
    try:
        assert not any(isinstance(route, RouteIndex) for route in application.routes)
    finally:
        application.state.engine.dispose()
