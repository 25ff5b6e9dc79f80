"""The indexed dispatch picks exactly the route FastAPI's own router would.

``app.kit.routing.IndexedDispatch`` tries only the routes whose first path segments fit the
request and hands everything else to the router's full logic. These tests hold it to
FastAPI's behaviour three ways: the index's candidates against a linear scan of every route,
for a concrete path built from every route template; the same requests sent through the whole
stack, once dispatched by the index and once by FastAPI's own router; and the answers a client
sees (405 with ``Allow``, 404 problems, declared order, routes added late).
"""

from __future__ import annotations

import enum
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.convertors import (
    Convertor,
    FloatConvertor,
    IntegerConvertor,
    PathConvertor,
    UUIDConvertor,
)
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app.kit.config import Settings
from app.kit.handlers import PlannedRoute
from app.kit.routing import IndexedDispatch, _key
from app.main import create_app
from app.vocabulary import LetterKind
from tests.conftest import TEST_SECRET
from tests.factories import assert_problem, register

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
SAMPLE_UUID = "6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f"

# Paths no route template was built from: unknown, trailing slashes, shorter or longer than
# any route, a different version, odd cases and separators. None of them may be settled by
# the index differently from a full scan.
ODD_PATHS = (
    "/",
    "/api",
    "/api/",
    "/api/v1",
    "/api/v1/",
    "/api/v2/contacts",
    "/API/V1/contacts",
    "/api//v1/contacts",
    "/api/v1/nope",
    "/api/v1/nope/deeper/still",
    "/api/v1/contacts/",
    "/api/v1/contacts/import/",
    "/api/v1/contacts/import/extra",
    "/api/v1/contacts/not-a-uuid",
    "/api/v1/contacts/by-external-id/linkedin/users/42",
    "/api/v1/contacts/by-external-id/linkedin",
    f"/api/v1/interviews/{SAMPLE_UUID}/",
    f"/api/v1/interviews/{SAMPLE_UUID}/nope",
    "/api/v1/letters/draft/",
    "/api/v1/templates/not-a-kind",
    "/api/v1/calendar.ics/",
    "/api/v1/me/",
    "/healthz/",
    "/healthz/extra",
    "/docs/",
    "/openapi.json/",
)


def _path_param_annotations(route: APIRoute) -> dict[str, Any]:
    """Every path parameter's declared type, from the endpoint and its dependencies."""
    found: dict[str, Any] = {}
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        for field in dependant.path_params:
            found.setdefault(field.name, field.field_info.annotation)
        pending.extend(dependant.dependencies)
    return found


def _sample(convertor: Convertor[Any], annotation: Any) -> str:
    """A value the convertor accepts and the parameter's type validates."""
    if isinstance(convertor, PathConvertor):
        return "users/42"  # the rest of the path: a slash inside is the interesting case
    if isinstance(convertor, UUIDConvertor) or annotation is uuid.UUID:
        return SAMPLE_UUID
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return str(next(iter(annotation)).value)
    if isinstance(convertor, IntegerConvertor) or annotation is int:
        return "7"
    if isinstance(convertor, FloatConvertor) or annotation is float:
        return "7.5"
    return "sample"


def concrete_path(route: BaseRoute) -> str:
    """The route's template with every parameter filled in, built by the route itself."""
    assert isinstance(route, Route), route  # APIRoute is a Route
    annotations = _path_param_annotations(route) if isinstance(route, APIRoute) else {}
    params = {
        name: _sample(convertor, annotations.get(name))
        for name, convertor in route.param_convertors.items()
    }
    return str(route.url_path_for(route.name, **params))


def http_scope(method: str, path: str) -> Scope:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
    }


def first_full(routes: list[BaseRoute], scope: Scope) -> BaseRoute | None:
    for route in routes:
        if route.matches(dict(scope))[0] is Match.FULL:
            return route
    return None


def routed_paths(app: FastAPI) -> Iterator[tuple[BaseRoute, str]]:
    for route in app.router.routes:
        yield route, concrete_path(route)


@pytest.fixture
def app(sqlite_template: Path, tmp_path: Path) -> Iterator[FastAPI]:
    """The app on a migrated SQLite copy: routing does not depend on the database backend,
    so these run once; the HTTP checks further down take ``client`` and run on both."""
    database = tmp_path / "routing.db"
    shutil.copyfile(sqlite_template, database)
    application = create_app(
        Settings(
            env="test",
            database_url=f"sqlite:///{database}",
            secret_key=TEST_SECRET,
            run_dispatcher=False,
            redis_url=None,
        )
    )
    yield application
    application.state.engine.dispose()


# --- the index's candidates against a full scan ------------------------------------------------


def test_every_route_is_flat_and_dispatched_through_the_index(app: FastAPI) -> None:
    assert isinstance(app.router.middleware_stack, IndexedDispatch)
    # Flattened: no included routers left to walk, only operations.
    assert all(type(r) in (PlannedRoute, Route) for r in app.router.routes), app.router.routes
    api_paths = {r.path for r in app.router.routes if isinstance(r, APIRoute)}
    assert "/api/v1/contacts/{contact_id}" in api_paths
    assert "/api/v1/templates/{kind}" in api_paths
    assert "/healthz" in api_paths


def test_concrete_paths_are_matched_by_their_own_route(app: FastAPI) -> None:
    """Sanity of the path builder: each route fully matches its own path and methods."""
    for route, path in routed_paths(app):
        assert "{" not in path, path
        for method in route.methods or ():  # type: ignore[attr-defined]
            assert route.matches(http_scope(method, path))[0] is Match.FULL, (method, path)
    templates = next(r for r in app.router.routes if getattr(r, "path", "").endswith("{kind}"))
    assert concrete_path(templates).rsplit("/", 1)[1] in {k.value for k in LetterKind}


def index_against_full_scan(app: FastAPI, extra_paths: tuple[str, ...] = ()) -> tuple[int, int]:
    """Check the index's first full match against a linear scan, for every route template's
    path, the odd paths and every method; return how many were settled and how many not."""
    dispatch = app.router.middleware_stack
    assert isinstance(dispatch, IndexedDispatch)
    routes = list(app.router.routes)
    # Built (or rebuilt) by a request, for the routes as they are now.
    assert dispatch._indexed_version == (app.router._routes_version, len(routes))

    paths = {path for _, path in routed_paths(app)} | set(ODD_PATHS) | set(extra_paths)
    settled = unsettled = 0
    for path in sorted(paths):
        candidates = dispatch._index.get(_key(path), dispatch._anywhere)
        # Candidates keep the declared order.
        positions = [next(i for i, r in enumerate(routes) if r is c) for c in candidates]
        assert positions == sorted(positions), path
        for method in METHODS:
            scope = http_scope(method, path)
            expected = first_full(routes, scope)
            picked = first_full(candidates, scope)
            assert picked is expected, (method, path, picked, expected)
            if expected is None:
                unsettled += 1  # the dispatcher falls back to the router's full logic
            else:
                settled += 1
    return settled, unsettled


def test_index_candidates_pick_the_same_route_as_a_full_scan(app: FastAPI) -> None:
    """For every route template's path, every method and every odd path: the same route."""
    with TestClient(app) as client:  # the first request builds the index, as in production
        assert client.get("/healthz").status_code == 200
    settled, unsettled = index_against_full_scan(app)
    # Both sides were exercised: most routed paths are settled by the index, and wrong
    # methods, trailing slashes and unknown paths are left to the fallback.
    assert settled > 60 and unsettled > 100, (settled, unsettled)


def test_the_index_narrows_to_the_routes_sharing_the_first_three_segments(app: FastAPI) -> None:
    """What the index is for: a request is tried only against its own resource's routes."""
    dispatch = app.router.middleware_stack
    assert isinstance(dispatch, IndexedDispatch)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
    routes = list(app.router.routes)
    # No route of this app has a parameter among its first three segments.
    assert dispatch._anywhere == []
    for route, path in routed_paths(app):
        start = "/" + "/".join(path.split("/")[1:4])
        expected = [r for r in routes if "/" + "/".join(r.path.split("/")[1:4]) == start]  # type: ignore[attr-defined]
        assert dispatch._index[_key(path)] == expected, path
        assert route in expected
    interviews = dispatch._index["/api/v1/interviews"]
    assert 5 < len(interviews) < len(routes) // 4
    assert all(r.path.startswith("/api/v1/interviews") for r in interviews)  # type: ignore[attr-defined]


def test_routes_with_a_parameter_in_the_first_segments_keep_their_place(app: FastAPI) -> None:
    """Routes the index cannot key are tried for every request, where they were declared."""

    def versioned_agenda(version: str) -> dict[str, str]:
        return {"probe": f"agenda of {version}"}

    def late(resource: str) -> dict[str, str]:
        return {"probe": f"late {resource}"}

    # Declared before everything else, so FastAPI tries it first for GET /api/v1/agenda.
    app.router.routes.insert(0, APIRoute("/api/{version}/agenda", versioned_agenda))
    app.add_api_route("/api/v1/{resource}/late", late, methods=["GET"])
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/api/v1/agenda").json() == {"probe": "agenda of v1"}
        assert client.get("/api/v2/agenda").json() == {"probe": "agenda of v2"}
        # Keyed like the agenda and contacts routes, yet found after them.
        assert client.get("/api/v1/agenda/late").json() == {"probe": "late agenda"}
        assert client.get("/api/v1/questions/late").json() == {"probe": "late questions"}
        # ...but not before them: /contacts/{contact_id}, declared earlier, takes this one.
        assert_problem(client.get("/api/v1/contacts/late"), 401, "missing_token")
        # Under a key of its own too.
        assert client.get("/api/v1/nothing-else/late").json() == {"probe": "late nothing-else"}
        # What only keyed routes answer is unchanged.
        assert client.get("/api/v1/contacts").status_code == 401
    index_against_full_scan(
        app, ("/api/v2/agenda", "/api/v1/agenda/late", "/api/v1/nothing-else/late")
    )


def test_every_route_reachable_for_each_declared_method(app: FastAPI) -> None:
    """The route an index lookup settles on for a route's own method is the first declared."""
    dispatch = app.router.middleware_stack
    assert isinstance(dispatch, IndexedDispatch)
    routes = list(app.router.routes)
    dispatch._index = dispatch._build(routes)
    for route, path in routed_paths(app):
        for method in route.methods or ():  # type: ignore[attr-defined]
            scope = http_scope(method, path)
            picked = first_full(dispatch._index.get(_key(path), dispatch._anywhere), scope)
            assert picked is not None, (method, path)
            # Either the route itself, or one declared before it that also fits the path.
            assert routes.index(picked) <= routes.index(route), (method, path, picked)


# --- the whole stack: the index against FastAPI's own dispatch ---------------------------------


class RecordRoute:
    """Outermost ASGI middleware keeping the scope of each request once it was handled."""

    def __init__(self, app: ASGIApp, log: list[Scope]) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http":
                self.log.append(scope)


def _chosen(scope: Scope) -> object:
    """The route (or, for a plain Starlette route, the endpoint) the request was handed to."""
    return scope.get("route") or scope.get("endpoint")


def test_requests_reach_the_same_endpoint_as_fastapi_dispatch(app: FastAPI) -> None:
    """Each route's path with its methods and one it lacks, through the whole stack, twice:
    dispatched by the index, then by FastAPI's own router; same route, same answer."""
    dispatch = app.router.middleware_stack
    assert isinstance(dispatch, IndexedDispatch)
    log: list[Scope] = []
    app.add_middleware(RecordRoute, log=log)
    # Which route answers /openapi.json is the point here, not the document (a second or so
    # to generate; test_unknown_paths_redirects_and_documents_answer_as_before checks the real one).
    app.openapi_schema = {"openapi": "3.1.0", "info": {}, "paths": {}}

    requests: dict[tuple[str, str], None] = {}
    for route, path in routed_paths(app):
        declared = sorted(route.methods or ())  # type: ignore[attr-defined]
        undeclared = next(m for m in METHODS if m not in declared)
        for method in [*declared, undeclared]:
            requests[(method, path)] = None
    for path in ODD_PATHS:
        requests[("GET", path)] = None

    reached = 0
    # Each request twice: through the index, then through the router's own logic (what
    # FastAPI does without the index; IndexedDispatch falls back to it).
    with TestClient(app, raise_server_exceptions=False) as client:
        for method, path in requests:
            app.router.middleware_stack = dispatch
            indexed = client.request(method, path, follow_redirects=False)
            by_index = _chosen(log[-1])
            app.router.middleware_stack = dispatch.fallback  # type: ignore[assignment]
            plain = client.request(method, path, follow_redirects=False)
            by_fastapi = _chosen(log[-1])

            assert by_index is by_fastapi, (method, path, by_index, by_fastapi)
            assert indexed.status_code == plain.status_code, (method, path, indexed.text)
            for header in ("allow", "location", "content-type"):
                assert indexed.headers.get(header) == plain.headers.get(header), (method, path)
            assert indexed.status_code != 500, (method, path, indexed.text)
            reached += by_index is not None
    assert len(log) == 2 * len(requests)
    # Not a vacuous comparison: most requests reached a route, some reached none.
    assert len(requests) // 2 < reached < len(requests), (reached, len(requests))


# --- what a client sees ---------------------------------------------------------------------


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


def test_routes_added_after_the_first_request_are_reachable(app: FastAPI) -> None:
    """The index is rebuilt when the router's route count changes."""
    dispatch = app.router.middleware_stack
    assert isinstance(dispatch, IndexedDispatch)

    def probe() -> dict[str, str]:
        return {"probe": "new key"}

    def under_existing_key() -> dict[str, str]:
        return {"probe": "existing key"}

    def parameter_in_key(name: str) -> dict[str, str]:
        return {"probe": name}

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/api/v1/agenda").status_code == 401  # the index is built
        built = dispatch._indexed_version
        assert built == (app.router._routes_version, len(app.router.routes))
        assert_problem(client.get("/api/v1/zz-probe"), 404, "not_found")

        app.add_api_route("/api/v1/zz-probe", probe, methods=["GET"])
        app.add_api_route("/api/v1/agenda/probe", under_existing_key, methods=["GET"])
        app.add_api_route("/{name}/probe/x", parameter_in_key, methods=["GET"])

        assert client.get("/api/v1/zz-probe").json() == {"probe": "new key"}
        assert dispatch._indexed_version != built
        assert dispatch._indexed_version == (app.router._routes_version, len(app.router.routes))
        assert client.get("/api/v1/agenda/probe").json() == {"probe": "existing key"}
        # A parameter inside the keyed segments: tried whatever the request's key.
        assert client.get("/anything/probe/x").json() == {"probe": "anything"}
        assert client.get("/api/v1/agenda/probe/x").status_code == 404
        # The routes that were there keep answering as before.
        assert client.get("/api/v1/agenda").status_code == 401
        assert client.get("/healthz").json() == {"status": "ok"}
        r = client.post("/api/v1/zz-probe")
        assert_problem(r, 405, "method_not_allowed")
        assert r.headers["allow"] == "GET"
