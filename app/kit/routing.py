"""Route assembly and dispatch that stay cheap however many operations the API grows.

FastAPI keeps an included router as a branch that is matched, then matched again to be
handled, one level at a time; with a dozen resource routers under ``/api/v1`` a request walked
some sixty path regexes before its endpoint ran. Here the resource routers are flattened into
the application's own router (the same operations, paths and documentation), and requests
are dispatched through an index on the static start of the path: only the routes that could
match are tried, in their declared order. Anything the index does not settle (a wrong
method, a trailing slash, an unknown path) goes through the router's full logic unchanged,
so 405s with ``Allow``, redirects and 404s are exactly FastAPI's.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

# How many leading path segments the index keys on: "/api/v1/interviews" for every
# interview operation.
_KEY_SEGMENTS = 3


def include_flat(app: FastAPI, router: APIRouter, prefix: str = "") -> None:
    """Add every operation of ``router`` to the app's own router, under ``prefix``."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"only API routes can be flattened, not {route!r}")
        app.router.add_api_route(
            prefix + route.path,
            route.endpoint,
            response_model=route.response_model,
            status_code=route.status_code,
            tags=list(route.tags),
            dependencies=list(route.dependencies),
            summary=route.summary,
            description=route.description,
            response_description=route.response_description,
            responses=dict(route.responses),
            deprecated=route.deprecated,
            methods=set(route.methods or ()),
            operation_id=route.operation_id,
            response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            include_in_schema=route.include_in_schema,
            response_class=route.response_class,
            name=route.name,
            callbacks=route.callbacks,
            openapi_extra=route.openapi_extra,
            generate_unique_id_function=route.generate_unique_id_function,
        )


def _key(path: str) -> str:
    segments = path.split("/", _KEY_SEGMENTS + 1)[1 : _KEY_SEGMENTS + 1]
    return "/" + "/".join(segments)


def _static_key(route: BaseRoute) -> str | None:
    """The index key of a route, or None when a parameter sits inside the keyed segments."""
    if not isinstance(route, Route):  # mounts, websocket routes
        return None
    path: str = route.path
    key = _key(path)
    return None if "{" in key else key


class IndexedDispatch:
    """The router's dispatch, trying only the routes whose static path start fits."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self.fallback: ASGIApp = router.middleware_stack
        self._index: dict[str, list[BaseRoute]] = {}
        self._anywhere: list[BaseRoute] = []
        self._indexed_version: tuple[int, int] | None = None

    def _build(self, routes: Iterable[BaseRoute]) -> dict[str, list[BaseRoute]]:
        keyed = [(_static_key(r), r) for r in routes]
        index: dict[str, list[BaseRoute]] = {}
        for key, _ in keyed:
            if key is not None and key not in index:
                # Declared order is kept, unkeyed routes included where they were declared.
                index[key] = [r for k, r in keyed if k is None or k == key]
        self._anywhere = [r for k, r in keyed if k is None]
        return index

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        version = (self.router._routes_version, len(self.router.routes))
        if version != self._indexed_version:  # built once; again whenever the routes change
            self._index = self._build(self.router.routes)
            self._indexed_version = version
        route_path = get_route_path(scope)
        for route in self._index.get(_key(route_path), self._anywhere):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope.setdefault("router", self.router)
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
        await self.fallback(scope, receive, send)


def install_indexed_dispatch(app: FastAPI) -> None:
    """Route the app's requests through :class:`IndexedDispatch` (call once all routes exist)."""
    app.router.middleware_stack = IndexedDispatch(app.router)
