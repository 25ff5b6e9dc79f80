"""What v1 has deprecated, and the headers that announce it on every answer.

v1 changes only by adding. When an operation or a field is to go, it is listed here with the
day it was deprecated (and, once one is set, the day it stops working), marked deprecated in
the OpenAPI document, and every response of an operation it concerns carries:

- ``Deprecation: @<unix seconds>`` (RFC 9745), the moment it was deprecated;
- ``Sunset: <HTTP-date>`` (RFC 8594), when a date is known;
- ``Link: <changelog>; rel="deprecation"`` (and ``rel="sunset"``), where the changelog says
  what to use instead.

An operation is concerned when it is deprecated itself, or when its request body or response
contains a deprecated field. Fields are marked ``Field(deprecated=...)`` on their model and
listed in ``FIELDS`` as ``"<Model>.<field>"``; a test keeps the two in step.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from email.utils import formatdate
from typing import Any, get_args

from fastapi import APIRouter
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CHANGELOG_URL = "https://infoview.dev/changelog"


@dataclass(frozen=True)
class Notice:
    """One deprecation: since when, until when (if decided), and what to read about it."""

    deprecated_on: date
    sunset_on: date | None = None
    changelog_url: str = CHANGELOG_URL

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The response headers that announce this deprecation."""
        moment = calendar.timegm(self.deprecated_on.timetuple())
        links = [f'<{self.changelog_url}>; rel="deprecation"; type="text/markdown"']
        headers = [(b"deprecation", f"@{moment}".encode())]
        if self.sunset_on is not None:
            sunset = calendar.timegm(self.sunset_on.timetuple())
            headers.append((b"sunset", formatdate(sunset, usegmt=True).encode()))
            links.append(f'<{self.changelog_url}>; rel="sunset"; type="text/markdown"')
        headers.append((b"link", ", ".join(links).encode()))
        return headers


# operationId -> notice. v1 has deprecated nothing yet.
OPERATIONS: dict[str, Notice] = {}
# "<Model>.<field>" -> notice. v1 has deprecated nothing yet.
FIELDS: dict[str, Notice] = {}


def mark_deprecated_operations(
    routers: Iterable[APIRouter], operations: dict[str, Notice] = OPERATIONS
) -> None:
    """Mark the listed operations deprecated, so the document says so.

    Done on the routers before the app serves their routes. This list is the one place an
    operation is deprecated: every other operation is marked not deprecated.
    """
    known = set()
    for route in _api_routes([r for router in routers for r in router.routes]):
        route.deprecated = route.operation_id in operations
        if route.deprecated:
            known.add(route.operation_id)
    missing = set(operations) - known
    if missing:
        raise RuntimeError(f"deprecations name unknown operations: {sorted(missing)}")


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """Every operation as declared on its router (what a request's ``scope["route"]`` is)."""
    for context in iter_route_contexts(routes):
        if isinstance(context.original_route, APIRoute):
            yield context.original_route


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    """Every pydantic model reachable from a type annotation (lists, unions, nested fields)."""
    seen: set[type[BaseModel]] = set()
    stack = [annotation]
    while stack:
        current = stack.pop()
        if isinstance(current, type) and issubclass(current, BaseModel):
            if current in seen:
                continue
            seen.add(current)
            yield current
            stack.extend(field.annotation for field in current.model_fields.values())
        else:
            stack.extend(get_args(current))


def _route_models(route: APIRoute) -> Iterable[type[BaseModel]]:
    annotations: list[Any] = [route.response_model]
    annotations += [param.field_info.annotation for param in route.dependant.body_params]
    for annotation in annotations:
        yield from _models(annotation)


def notice_for(
    route: APIRoute,
    operations: dict[str, Notice] = OPERATIONS,
    fields: dict[str, Notice] = FIELDS,
) -> Notice | None:
    """The deprecation a route's answers announce: its own, or the earliest of its fields'."""
    own = operations.get(route.operation_id or "")
    if own is not None:
        return own
    found = [
        fields[f"{model.__name__}.{name}"]
        for model in _route_models(route)
        for name in model.model_fields
        if f"{model.__name__}.{name}" in fields
    ]
    return min(found, key=lambda notice: notice.deprecated_on) if found else None


class DeprecationMiddleware:
    """Add the deprecation headers to every answer of a deprecated operation."""

    def __init__(
        self,
        app: ASGIApp,
        operations: dict[str, Notice] = OPERATIONS,
        fields: dict[str, Notice] = FIELDS,
    ) -> None:
        self.app = app
        self.operations = operations
        self.fields = fields
        self._headers: dict[int, list[tuple[bytes, bytes]]] | None = None

    def _index(self, scope: Scope) -> dict[int, list[tuple[bytes, bytes]]]:
        if self._headers is None:
            headers = {}
            for route in _api_routes(getattr(scope.get("app"), "routes", [])):
                notice = notice_for(route, self.operations, self.fields)
                if notice is not None:
                    headers[id(route)] = notice.headers()
            self._headers = headers
        return self._headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (self.operations or self.fields):
            await self.app(scope, receive, send)
            return
        index = self._index(scope)

        async def send_with_notice(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = index.get(id(scope.get("route")))
                if extra:
                    message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_notice)
