"""Finding a request's route by the first segments of its path, not by trying every route.

The app's router tries its routes in order, a regular expression each, until one matches:
about a microsecond and a half per route passed over. With some 115 routes, an operation
declared late paid for all of those before it (a GET of an interview for 35, the OAuth token
endpoint for over 100). :class:`RouteIndex` stands first in the table and knows which routes
can match a path at all: a route's path starts with literal segments (``/api/v1/interviews``,
``/oauth``), and no path outside that start can match it. So the index tries only the routes
of the request's group, in their table order, and answers exactly as the table would have:

- a route that matches fully is the one the table would have chosen, since every route that
  could match the path, and comes before it in the table, is in the same group, in the same
  order;
- anything else (a path no route matches, a method a path does not take, a path of no
  group) is left to the table behind it, which answers as it always did: 405 with the path's
  methods, a redirect to the path without its trailing slash, 404.

If any route's path starts with a parameter, it could match in every group, and no index is
built (:func:`index_routes` gives None).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi.routing import RouteContext, iter_route_contexts
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from app.kit.api import API_PREFIX

# Where a matched route waits between the router's ``matches`` and ``handle``.
MATCHED_ROUTE = "infoview.route"


def _group(path: str) -> str | None:
    """The literal start of a path that decides which routes can match it: up to the segment
    after ``/api/v1`` for the API's paths (``/api/v1/interviews``), the first segment for the
    others (``/oauth``). None when that segment is a parameter."""
    if path.startswith(API_PREFIX + "/"):
        segment = path[len(API_PREFIX) + 1 :].partition("/")[0]
        key = f"{API_PREFIX}/{segment}"
    else:
        segment = path[1:].partition("/")[0]
        key = "/" + segment
    return None if "{" in segment else key


class RouteIndex(BaseRoute):
    """The table's routes grouped by the start of their paths; see the module's docstring."""

    def __init__(self, groups: dict[str, list[BaseRoute]]) -> None:
        self.groups = groups

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        path: str = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root + "/"):
            path = path[len(root) :]
        for route in self.groups.get(_group(path) or "", ()):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                return Match.FULL, {**child_scope, MATCHED_ROUTE: route}
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope[MATCHED_ROUTE].handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)  # the table's own routes answer for their names


def index_routes(table: Sequence[BaseRoute]) -> RouteIndex | None:
    """An index of ``table``'s routes to stand in front of it, or None if one cannot be made."""
    groups: dict[str, list[BaseRoute]] = {}
    for route in table:
        path = getattr(route, "path", None)
        key = _group(path) if isinstance(path, str) and path.startswith("/") else None
        if key is None:
            return None
        groups.setdefault(key, []).append(route)
    return RouteIndex(groups)


def chosen_route(scope: Scope) -> tuple[RouteContext, Scope] | None:
    """The route the app's router will choose for ``scope``, with what matching it gave (its
    ``path_params``), or None when none matches fully: for middleware that must know the
    operation before the router runs."""
    for context in iter_route_contexts(getattr(scope.get("app"), "routes", [])):
        match, child_scope = context.matches(scope)
        if match is Match.FULL:
            if isinstance(context.original_route, RouteIndex):
                return RouteContext(child_scope[MATCHED_ROUTE]), child_scope
            return context, child_scope
    return None
