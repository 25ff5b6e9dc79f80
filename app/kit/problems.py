"""RFC 9457 problem details for every error the API can answer with.

One handler per kind of failure, all producing the same shape:
``{type, title, status, detail, code, errors?, error_count?, request_id}`` as
``application/problem+json``.

Every ``errors[]`` is bounded here, in the one function all problems go through: at most
:data:`MAX_PROBLEM_ERRORS` entries, the first ones found, and ``error_count`` saying how many
there were in all when some were left out. A request with 90,000 unknown keys costs a small
answer, not one entry per key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.kit.db import database_problem, pool_exhausted
from app.kit.errors import AppError, title_of
from app.kit.media_types import parse_content_type
from app.kit.middleware import SECURITY_HEADERS

PROBLEM_BASE = "https://infoview.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
# The most entries an ``errors[]`` lists; ``error_count`` then says how many there were.
MAX_PROBLEM_ERRORS = 100
log = logging.getLogger("infoview.errors")


class ProblemError(BaseModel):
    """One entry of ``errors[]``: a field that failed validation or an unmet requirement."""

    model_config = ConfigDict(extra="allow")

    code: str | None = None
    message: str | None = None
    loc: list[str | int] | None = None
    msg: str | None = None
    type: str | None = None


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    code: str
    errors: list[ProblemError] | None = Field(
        default=None,
        max_length=MAX_PROBLEM_ERRORS,
        description=f"What is wrong, item by item: the first {MAX_PROBLEM_ERRORS} found at most.",
    )
    error_count: int | None = Field(
        default=None,
        description=(
            "How many errors were found, when errors[] does not list them all (checking a long"
            f" list of records stops soon after the first {MAX_PROBLEM_ERRORS})."
        ),
    )
    request_id: str | None = None


class TransitionProblem(Problem):
    """A refused workflow move: every unmet requirement, and where the interview stands."""

    current_state: str | None = None
    allowed_transitions: list[str] | None = None


def problem_response(
    request: Request,
    status: int,
    code: str,
    detail: str | None = None,
    *,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """Build the problem+json response every error path goes through.

    ``errors`` is cut to its first :data:`MAX_PROBLEM_ERRORS` entries, with ``error_count``
    for the total (an ``error_count`` in ``extra``, from a caller that counted further, wins).
    """
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title or title_of(status),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors[:MAX_PROBLEM_ERRORS]
        if len(errors) > MAX_PROBLEM_ERRORS:
            body["error_count"] = len(errors)
    if extra:
        body.update(extra)
    body["request_id"] = getattr(request.state, "request_id", None)
    return JSONResponse(
        jsonable_encoder(body), status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE
    )


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    428: "precondition_required",
    429: "rate_limited",
    503: "service_unavailable",
}


_MALFORMED_JSON = "The request body is not valid JSON."
# FastAPI's words for a body it could not read.
_BODY_PARSE_ERROR = "There was an error parsing the body"


def _is_json(request: Request) -> bool:
    return parse_content_type(request.headers.get("content-type")).is_json


def _allowed_methods(request: Request) -> list[str]:
    """Every method the request's path accepts, judged by its most specific route template.

    ``/letters/draft`` also matches ``/letters/{letter_id}``, but what it allows is what
    ``/letters/draft`` itself does: templates with fewer parameters win, as in routing tables
    that rank a fixed segment over a variable one.
    """
    path = request.scope.get("path", "")
    by_specificity: dict[int, set[str]] = {}
    for context in iter_route_contexts(request.app.routes):
        regex = getattr(context, "path_regex", None)
        if regex is not None and context.methods and regex.match(path):
            parameters = str(getattr(context, "path", "")).count("{")
            by_specificity.setdefault(parameters, set()).update(context.methods)
    return sorted(by_specificity[min(by_specificity)]) if by_specificity else []


def _validation_errors(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]], int]:
    """The problem's code, its first errors (as many as an answer lists) and their total."""
    errors = []
    code = "validation_error"
    found = exc.errors()
    for err in found[:MAX_PROBLEM_ERRORS]:
        if err.get("type") == "json_invalid":
            code = "malformed_json"
        errors.append(
            {
                "loc": [str(p) if not isinstance(p, int) else p for p in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    return code, errors, len(found)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into a problem document."""

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return problem_response(
            request,
            exc.status,
            exc.code,
            exc.detail,
            title=exc.title,
            errors=exc.errors,
            headers=exc.headers,
            extra=exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        code, errors, count = _validation_errors(exc)
        if code == "malformed_json":
            detail = _MALFORMED_JSON
        elif any(e["loc"] == ["body"] for e in errors) and not _is_json(request):
            # A whole body unread: sent without saying it is JSON.
            sent = (
                parse_content_type(request.headers.get("content-type")).media_type[:100] or "none"
            )
            detail = (
                "The body must be JSON, sent with `Content-Type: application/json` (this "
                f"request's content type: {sent})."
            )
        else:
            detail = "The request is not valid; see errors[] for each field."
        extra = {"error_count": count} if count > len(errors) else None
        return problem_response(request, 422, code, detail, errors=errors, extra=extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else None
        headers = getattr(exc, "headers", None)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No route matches {request.method} {request.url.path}."
        elif exc.status_code == 405:
            # The route that matched lists only its own methods; the path may have others.
            allowed = _allowed_methods(request)
            if allowed:
                allow = ", ".join(allowed)
                headers = {**(headers or {}), "Allow": allow}
                detail = f"{request.method} is not allowed on {request.url.path}; use {allow}."
        elif exc.status_code == 400 and detail == _BODY_PARSE_ERROR and _is_json(request):
            # Invalid UTF-8, absurd nesting or a huge number: malformed JSON like any other.
            errors = [{"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid"}]
            return problem_response(request, 422, "malformed_json", _MALFORMED_JSON, errors=errors)
        return problem_response(request, exc.status_code, code, detail, headers=headers)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        problem = database_problem(exc)
        if problem is None:
            return await _unhandled(request, exc)
        log.warning(
            "database unavailable",
            extra={"request_id": getattr(request.state, "request_id", None), "code": problem.code},
        )
        return await _app_error(request, problem)

    @app.exception_handler(PoolTimeout)
    async def _pool_timeout(request: Request, exc: PoolTimeout) -> JSONResponse:
        log.warning(
            "database pool exhausted",
            extra={"request_id": getattr(request.state, "request_id", None)},
        )
        return await _app_error(request, pool_exhausted())

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception(
            "unhandled error",
            extra={"request_id": getattr(request.state, "request_id", None)},
        )
        # This handler runs outside every middleware of the app, so it sets the request id and
        # the security headers itself.
        request_id = getattr(request.state, "request_id", None)
        headers = dict(SECURITY_HEADERS)
        if request_id:
            headers["X-Request-ID"] = request_id
        return problem_response(
            request,
            500,
            "internal_error",
            "Something went wrong on our side. Quote the request id when reporting it.",
            headers=headers,
        )


_DESCRIPTIONS = {
    400: "Bad request",
    401: "Missing, invalid or expired credentials",
    403: "The token lacks a required scope",
    404: "No such resource (or it belongs to another user)",
    409: "Conflicts with the current state of the resource",
    412: "If-Match did not match the current ETag",
    413: "Request body too large",
    415: "The body's media type or charset is not one the operation reads",
    422: "Validation failed",
    428: "Precondition required",
    429: "Too many requests",
    503: "Not ready",
}


# The document's Problem schema, by reference.
_PROBLEM_SCHEMA = {"$ref": "#/components/schemas/Problem"}

# The 503 any operation that reads the database may answer (see ``database_problem``).
DATABASE_UNAVAILABLE: dict[str, Any] = {
    "description": (
        "The database is busy (`database_busy`), too slow (`database_timeout`) or unreachable "
        "(`database_unavailable`); nothing was changed. Retry after `Retry-After` seconds."
    ),
    "headers": {
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
    "content": {"application/problem+json": {"schema": dict(_PROBLEM_SCHEMA)}},
}


# The 503 of an operation that checks a password: the database's reasons, or too many password
# checks at once (``kit/security.py``, ``PasswordWork``).
PASSWORD_CHECKS_BUSY: dict[str, Any] = {
    **DATABASE_UNAVAILABLE,
    "description": (
        "The database is busy (`database_busy`), too slow (`database_timeout`) or unreachable "
        "(`database_unavailable`), or too many passwords are being checked at once "
        "(`password_checks_busy`); nothing was changed. Retry after `Retry-After` seconds."
    ),
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the problem statuses an operation can answer with."""
    return {
        status: {
            "model": TransitionProblem if status == 409 else Problem,
            "description": _DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
        for status in statuses
    }


def problem_references(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """:func:`problem_responses` for a route already built: its schema named by reference.

    A route reads the ``model`` of its responses once, when it is built; a response added to
    it later (what every operation may answer, declared centrally) names the schema itself.
    """
    return {
        status: {
            "description": spec["description"],
            "content": {
                PROBLEM_MEDIA_TYPE: {
                    "schema": {"$ref": f"#/components/schemas/{spec['model'].__name__}"}
                }
            },
        }
        for status, spec in problem_responses(*statuses).items()
    }


# The headers a successful answer may carry, as the document declares them.
_SUCCESS_HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": (
            "The representation's validator. In `If-Match`, a change or delete goes ahead only "
            "if nobody changed the resource since; in `If-None-Match`, where the operation "
            "answers 304, an unchanged resource is not sent again."
        ),
        "required": True,
        "schema": {"type": "string", "pattern": '^(W/)?"[^"]*"$'},
    },
    "Location": {
        "description": "Where the resource created (or answered with) is read.",
        "required": True,
        "schema": {"type": "string", "format": "uri-reference"},
    },
    "Last-Modified": {
        "description": "When what is shown last changed (an HTTP date), for If-Modified-Since.",
        "required": True,
        "schema": {"type": "string"},
    },
}


def declared_headers(*names: str) -> dict[str, dict[str, Any]]:
    """The OpenAPI ``headers`` of a successful answer: ``ETag``, ``Location``, ``Last-Modified``,
    each a reference to the document's ``components.headers``."""
    unknown = sorted(set(names) - _SUCCESS_HEADERS.keys())
    if unknown:
        raise ValueError(f"no declared header named {unknown}")
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def success_headers(status: int, *names: str) -> dict[int | str, dict[str, Any]]:
    """An OpenAPI ``responses`` entry declaring the headers the ``status`` answer carries,
    merged by FastAPI into the operation's own response (:func:`declared_headers`)."""
    return {status: {"headers": declared_headers(*names)}}


def _problem_content(document: dict[str, Any]) -> None:
    """Give each problem response its schema under ``application/problem+json`` only.

    FastAPI files a response ``model`` under the route's media type (``application/json``),
    next to the ``application/problem+json`` entry ``problem_responses`` declares without a
    schema; the body is really sent as the latter, so the schema moves there.
    """
    for item in document.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for response in operation.get("responses", {}).values():
                content = response.get("content") or {}
                problem = content.get(PROBLEM_MEDIA_TYPE)
                plain = content.get("application/json")
                if problem is not None and not problem.get("schema") and plain is not None:
                    content[PROBLEM_MEDIA_TYPE] = plain
                    del content["application/json"]


def declare_in_openapi(app: FastAPI) -> None:
    """Wrap ``app.openapi`` so problem responses declare the media type they are sent with, and
    the headers successful answers declare (:func:`declared_headers`) are in the document."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        _problem_content(document)
        document.setdefault("components", {})["headers"] = _SUCCESS_HEADERS
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def post_only(router: APIRouter, path: str, operation_id: str) -> None:
    """Answer every other method on ``path`` with a 405 naming POST.

    For a POST-only path beside a ``/{id}`` template (``/letters/draft`` beside
    ``/letters/{letter_id}``): without it, GET, PATCH or DELETE would reach the ``{id}`` route
    and answer 422 (not a UUID) instead of saying the method is wrong.
    """
    _only(router, path, operation_id, "POST")


def get_only(router: APIRouter, path: str, operation_id: str) -> None:
    """Answer every other method on ``path`` with a 405 naming GET: :func:`post_only` for a
    read beside a ``/{id}`` template (``/contacts/export`` beside ``/contacts/{contact_id}``)."""
    _only(router, path, operation_id, "GET")


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


def _only(router: APIRouter, path: str, operation_id: str, method: str) -> None:

    async def other_methods(request: Request) -> Response:
        return problem_response(
            request,
            405,
            "method_not_allowed",
            f"{request.method} is not allowed on {request.url.path}; use {method}.",
            headers={"Allow": method},
        )

    router.add_api_route(
        path,
        other_methods,
        methods=[m for m in _METHODS if m != method],
        operation_id=operation_id,
        include_in_schema=False,
    )
