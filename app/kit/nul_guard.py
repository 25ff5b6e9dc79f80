"""Refuse the NUL character (U+0000) anywhere in a request's text, with a 422 naming where.

PostgreSQL cannot store NUL in ``text`` or ``jsonb``, so a name, a note, a tag or a search term
carrying one would fail deep inside a write (or a query) as a 500. SQLite would keep it, and a
value no other client can print is never what anyone meant. One check at the door, the same on
both databases: JSON bodies, form bodies, raw text bodies (the contact import) and the query
parameters the route declares (others are ignored, as everywhere). The usual validation problem
comes back, with one ``errors[]`` entry whose ``type`` is ``nul_character``.

Pure ASGI, inside the request-context middleware, which has already read (and bounded) the
body. Requests without a NUL pay for one substring search of the body and of the query string.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.requests import Request
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from app.kit.middleware import read_body
from app.kit.problems import problem_response

NUL = "\x00"
_MESSAGE = "must not contain the NUL character (U+0000)"


def _in_json(value: Any, loc: list[str | int]) -> list[str | int] | None:
    """Where in a parsed JSON document a string (or key) holds a NUL, if anywhere."""
    if isinstance(value, str):
        return loc if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if NUL in key:
                return [*loc, key]
            found = _in_json(item, [*loc, key])
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _in_json(item, [*loc, index])
            if found is not None:
                return found
    return None


def _in_pairs(encoded: bytes, where: str, names: set[str] | None = None) -> list[str | int] | None:
    """Where in a urlencoded string (query or form) a value holds a NUL.

    With ``names``, only those parameters count: the others are ignored by the route anyway.
    """
    if b"%00" not in encoded and b"\x00" not in encoded:
        return None
    for name, value in parse_qsl(encoded.decode("latin-1"), keep_blank_values=True):
        if NUL in value and (names is None or name in names):
            return [where, name]
    return None


def _query_names(scope: Scope) -> set[str]:
    """The query parameters the route that will answer ``scope`` declares."""
    for context in iter_route_contexts(getattr(scope.get("app"), "routes", [])):
        route = context.original_route
        if isinstance(route, APIRoute) and context.matches(scope)[0] is Match.FULL:
            return {param.alias for param in route.dependant.query_params}
    return set()


def _media_type(scope: Scope) -> tuple[str, str | None]:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media_type, _, params = value.decode("latin-1").partition(";")
            charset = None
            for param in params.split(";"):
                key, _, val = param.partition("=")
                if key.strip().lower() == "charset":
                    charset = val.strip().strip('"') or None
            return media_type.strip().lower(), charset
    return "", None


def _in_body(body: bytes, media_type: str, charset: str | None) -> list[str | int] | None:
    if not body:
        return None
    if media_type == "application/json" or media_type.endswith("+json"):
        if b"\\u0000" not in body:
            return None
        try:
            document = json.loads(body)
        except ValueError:
            return None  # not JSON: the route's own parsing says so
        return _in_json(document, ["body"])
    if media_type == "application/x-www-form-urlencoded":
        return _in_pairs(body, "body")
    if media_type.startswith("text/"):
        encoding = (charset or "utf-8").lower()
        if encoding.replace("-", "") in ("utf8", "ascii", "usascii", "latin1", "iso88591"):
            return ["body"] if b"\x00" in body else None
        try:
            return ["body"] if NUL in body.decode(encoding, errors="replace") else None
        except LookupError:
            return None  # an unknown charset: the route refuses it
    return None


class NulGuardMiddleware:
    """Answer 422 to a request whose JSON, form, text body or query string holds a NUL."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        loc = None
        if b"%00" in query or b"\x00" in query:  # rare: only then find the route's parameters
            loc = _in_pairs(query, "query", _query_names(scope))
        if loc is None and scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            body, receive = await read_body(receive)
            loc = _in_body(body, *_media_type(scope))
        if loc is None:
            await self.app(scope, receive, send)
            return
        response = problem_response(
            Request(scope),
            422,
            "validation_error",
            "The request is not valid; see errors[] for each field.",
            errors=[{"loc": loc, "msg": _MESSAGE, "type": "nul_character"}],
        )
        await response(scope, receive, send)


__all__ = ["NulGuardMiddleware"]
