"""What a request body may be, checked at the door: a charset the API reads, JSON nested a sane
depth, and no NUL character (U+0000) anywhere in its text.

This runs before routing and authentication, so it only does work that is bounded and linear in
the (already size-limited) body, with no decoding a client can make expensive:

- **Charsets are an allow-list** (:mod:`app.kit.media_types`): JSON and forms are UTF-8 (or
  US-ASCII); the raw text files of the contact import may also be ISO-8859-1/-15,
  Windows-1252 or UTF-16. Anything else is a 415 ``unsupported_charset`` naming the allowed
  ones, decided by a table lookup; so is a JSON body in UTF-16 or UTF-32, which FastAPI would
  otherwise decode on its own.
- **JSON nests at most** :data:`MAX_JSON_DEPTH` arrays and objects deep, else a 422
  ``malformed_json`` whose one ``errors[]`` entry has the type ``json_too_deep``. The depth is
  measured on the raw bytes with a few passes of C string functions, before anything parses
  the body, so neither the checks here nor FastAPI's parser nor validation ever recurse
  without bound.
- **No NUL.** PostgreSQL cannot store NUL in ``text`` or ``jsonb``, so a name, a note, a tag or a
  search term carrying one would fail deep inside a write (or a query) as a 500. SQLite would
  keep it, and a value no other client can print is never what anyone meant. One check, the
  same on both databases: JSON bodies, forms (urlencoded and multipart), raw text bodies in
  whichever allowed charset they declare, and the query parameters the route declares (others
  are ignored, as everywhere). A file upload (the contact import, ``app.kit.uploads``) streams
  past with only its charset checked here; the import refuses a NUL as it decodes each line.
  Otherwise the usual validation problem comes back, with one ``errors[]`` entry whose
  ``type`` is ``nul_character``.

Pure ASGI, inside the request-context middleware, which has already read (and bounded) the
body. An ordinary request pays for a few substring searches of its body and query string.
"""

from __future__ import annotations

import json
import operator
from array import array
from functools import partial
from itertools import accumulate, dropwhile
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin
from urllib.parse import parse_qsl

from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.kit.media_types import ZERO_BYTE_IS_NUL, ContentType, content_type_of
from app.kit.middleware import read_body
from app.kit.problems import MAX_PROBLEM_ERRORS, problem_response
from app.kit.route_index import chosen_route
from app.kit.uploads import file_upload

NUL = "\x00"
_MESSAGE = "must not contain the NUL character (U+0000)"
_ONE_VALUE = "takes one value: give it once"
# Deeper than any document the API takes (an account export nests six levels), far shallower
# than the recursion a parser or a validator could survive.
MAX_JSON_DEPTH = 64
_JSON_UTF8 = ("utf-8", "utf-8-sig")
_VALIDATION_DETAIL = "The request is not valid; see errors[] for each field."


# --- the depth of a JSON document, without parsing it ---------------------------------------

_NOT_BRACKETS = bytes(range(256)).translate(None, b"[]{}")
_BRACKET_SIGNS = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")  # +1 and -1 as signed bytes


def json_deeper_than(body: bytes, limit: int) -> bool:
    """Whether arrays and objects in ``body`` nest more than ``limit`` deep.

    Exact for valid JSON; for anything else the answer does not matter (the parser refuses
    it). Escaped backslashes, then escaped quotes, are dropped; what remains between quote
    pairs is string content and is dropped too; the brackets left give +1/-1 steps, whose
    running sum is the depth. Each step is one pass of a C function over the bytes.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    text = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    if b'"' in text:
        text = b"".join(text.split(b'"')[::2])
    steps = array("b", text.translate(_BRACKET_SIGNS, _NOT_BRACKETS))
    deeper = dropwhile(partial(operator.ge, limit), accumulate(steps))
    return next(deeper, None) is not None


# --- where a NUL is -------------------------------------------------------------------------


def _in_json(value: Any, loc: list[str | int]) -> list[str | int] | None:
    """Where in a parsed JSON document a string (or key) holds a NUL, if anywhere.

    Recursive, on a document already known to nest at most ``MAX_JSON_DEPTH`` deep.
    """
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


def _route(scope: Scope) -> APIRoute | None:
    """The operation that will answer ``scope``, if any."""
    found = chosen_route(scope)
    route = None if found is None else found[0].original_route
    return route if isinstance(route, APIRoute) else None


def _query_names(scope: Scope) -> set[str]:
    """The query parameters the route that will answer ``scope`` declares."""
    route = _route(scope)
    return set() if route is None else {param.alias for param in route.dependant.query_params}


def _takes_many(annotation: Any) -> bool:
    """Whether a parameter of this type takes several values (a list, a set, a tuple)."""
    origin = get_origin(annotation)
    if origin in (Union, UnionType, Annotated):
        return any(_takes_many(argument) for argument in get_args(annotation))
    return origin in (list, set, frozenset, tuple)


def _single_valued(route: APIRoute) -> frozenset[str]:
    """The route's query parameters that take one value (those of a parameter model too);
    looked up only for a query string that gives a name twice."""
    names: set[str] = set()
    for param in route.dependant.query_params:
        annotation = param.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names.update(
                field.alias or name
                for name, field in annotation.model_fields.items()
                if not _takes_many(field.annotation)
            )
        elif not _takes_many(annotation):
            names.add(param.alias)
    return frozenset(names)


def _given_twice(query: bytes) -> set[str]:
    """The names a query string gives more than once."""
    seen: set[str] = set()
    twice: set[str] = set()
    for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        (twice if name in seen else seen).add(name)
    return twice


def _repeated_problem(scope: Scope) -> Response | None:
    """The 422 for a query parameter that takes one value given several, or None."""
    twice = _given_twice(scope.get("query_string", b""))
    route = _route(scope) if twice else None
    repeated = sorted(twice & _single_valued(route)) if route is not None else []
    if not repeated:
        return None
    return problem_response(
        Request(scope),
        422,
        "validation_error",
        _VALIDATION_DETAIL,
        errors=[
            {"loc": ["query", name], "msg": _ONE_VALUE, "type": "repeated_parameter"}
            for name in repeated[:MAX_PROBLEM_ERRORS]
        ],
    )


def _nul_in_body(body: bytes, content_type: ContentType) -> list[str | int] | None:
    """Where the body's text holds a NUL (its charset already allowed), if anywhere."""
    if content_type.is_json:
        if b"\\u0000" not in body:
            return None
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            return None  # not JSON: the route's own parsing says so
        return _in_json(document, ["body"])
    if content_type.is_urlencoded_form:
        return _in_pairs(body, "body")
    codec = content_type.codec
    if codec in ZERO_BYTE_IS_NUL:
        # Multipart forms included: no route takes a binary file, and every part is text.
        return ["body"] if b"\x00" in body else None
    # UTF-16: one linear pass of a C decoder; a NUL is then a search away.
    return ["body"] if NUL in body.decode(codec, errors="replace") else None


# --- the middleware -------------------------------------------------------------------------


def _refusal(scope: Scope, body: bytes, content_type: ContentType) -> Response | None:
    """The problem answering a body that cannot go further, or None for one that can."""
    request = Request(scope)
    allowed = content_type.allowed_charsets
    charset = content_type.unsupported_charset()
    if charset is None and content_type.is_json and json.detect_encoding(body) not in _JSON_UTF8:
        charset = json.detect_encoding(body)
    if charset is not None:
        shown = charset if len(charset) <= 40 else charset[:40] + "…"
        return problem_response(
            request,
            415,
            "unsupported_charset",
            f"The charset {shown!r} is not accepted for {content_type.media_type or 'this body'};"
            f" send {', '.join(allowed)}.",
            title="Unsupported charset",
            extra={"accepted_charsets": list(allowed)},
        )
    if content_type.is_json and json_deeper_than(body, MAX_JSON_DEPTH):
        message = f"must not nest arrays and objects more than {MAX_JSON_DEPTH} levels deep"
        return problem_response(
            request,
            422,
            "malformed_json",
            f"The request body nests JSON more than {MAX_JSON_DEPTH} levels deep.",
            errors=[{"loc": ["body"], "msg": message, "type": "json_too_deep"}],
        )
    loc = _nul_in_body(body, content_type)
    return None if loc is None else _nul_problem(request, loc)


def _nul_problem(request: Request, loc: list[str | int]) -> Response:
    return problem_response(
        request,
        422,
        "validation_error",
        _VALIDATION_DETAIL,
        errors=[{"loc": loc, "msg": _MESSAGE, "type": "nul_character"}],
    )


class NulGuardMiddleware:
    """Refuse a request whose charset, JSON depth, body or query string cannot go further:
    a query parameter that takes one value given several (``?state=held&state=cancelled``)
    is refused rather than read as its last value."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        response = None
        if b"%00" in query or b"\x00" in query:  # rare: only then find the route's parameters
            loc = _in_pairs(query, "query", _query_names(scope))
            if loc is not None:
                response = _nul_problem(Request(scope), loc)
        if response is None and b"&" in query:  # two parameters or more: one given twice?
            response = _repeated_problem(scope)
        if response is None and file_upload(scope) is not None:
            # A file streams on to its route, which checks its text as it decodes it; its
            # declared charset is still looked up here.
            response = _refusal(scope, b"", content_type_of(scope))
        elif response is None and scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            body, receive = await read_body(receive)
            if body:
                response = _refusal(scope, body, content_type_of(scope))
        if response is None:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)


__all__ = ["MAX_JSON_DEPTH", "NulGuardMiddleware", "json_deeper_than"]


# --- OpenAPI ----------------------------------------------------------------------------------

NUL_FREE = "^[^\\u0000]*$"
"""The pattern the document gives every text that has none of its own: no NUL, as above."""


def _nul_free(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "object" and node.get("additionalProperties") is not False:
            node.setdefault("propertyNames", {"pattern": NUL_FREE})  # keys are text too
        if (
            node.get("type") == "string"
            and "pattern" not in node
            and "format" not in node
            and "enum" not in node
            and "const" not in node
        ):
            node["pattern"] = NUL_FREE
        for value in node.values():
            _nul_free(value)
    elif isinstance(node, list):
        for value in node:
            _nul_free(value)


def declare_in_openapi(app: Any) -> None:
    """Say in the document what the guard enforces: every string is free of NUL.

    Strings with a pattern of their own already exclude it; strings with a ``format`` (dates,
    UUIDs, e-mail addresses, files) cannot hold it, or are bytes. Object keys are text too.
    Problems are left as they are: they quote the refused input back.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document: dict[str, Any] = generate()
        _nul_free(document.get("paths", {}))
        _nul_free(document.get("webhooks", {}))
        for name, schema in document.get("components", {}).get("schemas", {}).items():
            if "Problem" not in name:  # a problem names the refused input, NUL and all
                _nul_free(schema)
        return document

    app.openapi = openapi
