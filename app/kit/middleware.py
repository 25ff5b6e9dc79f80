"""Pure ASGI middleware: request ids, the body-size limit, one JSON log line per request, and
the security headers every response carries.

Written against raw ASGI rather than ``BaseHTTPMiddleware``: it is on every request's path,
and the extra task and queue that ``BaseHTTPMiddleware`` adds cost measurable throughput.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import time
import uuid
from typing import Any, overload

from fastapi.routing import RouteContext, iter_route_contexts
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.kit.database import RequestDatabase
from app.kit.errors import title_of
from app.kit.uploads import counted, file_upload

log = logging.getLogger("infoview.access")

# Where a request keeps what it checked out of the pool, for this middleware to give back once
# the response is complete: its asynchronous session and connection, and its blocking session.
SESSION_STATE_KEY = "db_session"
READ_SESSION_STATE_KEY = "db_read_session"
CONNECTION_STATE_KEY = "db_connection"
THREAD_SESSION_STATE_KEY = "db_thread_session"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
UNMATCHED = "<unmatched>"


class RouteTemplates:
    """The full path template of the route a request matched, e.g. ``/api/v1/contacts/{id}``:
    what the request log and the metrics name a request by.

    ``scope["route"]`` is the route as declared on its own router: the API's routes carry their
    full path, but a router included with a prefix declares its routes without it, so the
    template is looked up among the app's effective routes (built once, at the first
    request). Plain Starlette routes (``/docs``, ``/openapi.json``) leave no route in the scope
    and are matched against the path instead.
    """

    def __init__(self) -> None:
        self._by_route: dict[int, list[RouteContext]] | None = None

    def __call__(self, scope: Scope) -> str:
        if self._by_route is None:
            by_route: dict[int, list[RouteContext]] = {}
            for context in iter_route_contexts(getattr(scope.get("app"), "routes", [])):
                original = context.original_route
                key = 0 if type(original) is Route else id(original)
                by_route.setdefault(key, []).append(context)
            self._by_route = by_route
        route = scope.get("route")
        candidates = self._by_route.get(0 if route is None else id(route), [])
        if len(candidates) == 1 and route is not None:
            return candidates[0].path_format or UNMATCHED
        for context in candidates:
            if context.matches(scope)[0] is not Match.NONE:
                return context.path_format or UNMATCHED
        return getattr(route, "path", None) or UNMATCHED


class JsonFormatter(logging.Formatter):
    """Format records as one JSON object a line, with the extra fields they carry."""

    # color_message: uvicorn's copy of the message with terminal colour codes in it.
    _STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in self._STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


# --- security headers -----------------------------------------------------------------------

# An API answer is data, never a page: nothing in it may load, run or be framed.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# What every response carries, whoever made it (the 500 handler adds them itself: it answers
# outside the middleware stack).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": API_CSP,
}
# The documentation pages (Swagger UI at /docs, ReDoc at /redoc) load their scripts, styles and
# icon from the server itself (the installed package's copies, see ``app/main.py``), draw their
# other images from data: URLs and read the OpenAPI document with fetch; ReDoc sets styles at
# run time and searches in a worker made from a blob. Nothing comes from another host (ReDoc's
# footer asks its vendor's for a logo, and is refused), and inline scripts run by hash only
# (see ``_page_csp``).
_PAGE_SCRIPT_SOURCES = "'self'"
_PAGE_CSP = (
    "default-src 'none'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# Pages bigger than this are not searched for inline scripts (none of ours comes close).
_MAX_PAGE_BYTES = 256 * 1024
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script>", re.DOTALL)


def _page_csp(page: bytes) -> str:
    """The CSP of an HTML page: the documentation's sources, and a hash per inline script."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(page)
    ]
    return _PAGE_CSP.format(scripts=" ".join([_PAGE_SCRIPT_SOURCES, *hashes]))


class SecurityHeadersMiddleware:
    """Give every response ``X-Content-Type-Options``, ``Referrer-Policy`` and a CSP.

    A header the endpoint set itself is left as it is. HTML pages (only the documentation is
    HTML) are held until complete, to allow their inline scripts by hash.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        page: list[bytes] = []
        size = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal start, size
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                own_policy = "content-security-policy" in headers
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                html = headers.get("content-type", "").lower().startswith("text/html")
                if html and not own_policy:
                    start = message  # held until the page is complete
                    return
            elif start is not None and message["type"] == "http.response.body":
                page.append(message.get("body", b""))
                size += len(page[-1])
                if message.get("more_body", False) and size <= _MAX_PAGE_BYTES:
                    return
                body = b"".join(page)
                policy = _page_csp(body if size <= _MAX_PAGE_BYTES else b"")
                MutableHeaders(scope=start)["content-security-policy"] = policy
                held, start = start, None
                page.clear()
                await send(held)
                message = {**message, "body": body}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def configure_logging(level: str = "INFO") -> None:
    """Send every log line to stderr as JSON."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn.access",):
        logging.getLogger(name).disabled = True
    # Alembic announces each of its plugins at INFO when imported: start-up noise, not news.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


async def _send_problem(send: Send, status: int, code: str, detail: str, request_id: str) -> None:
    body = json.dumps(
        {
            "type": f"https://infoview.dev/problems/{code}",
            "title": title_of(status),
            "status": status,
            "detail": detail,
            "code": code,
            "request_id": request_id,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    """Give each request an id, enforce the body limit, and log how it went."""

    def __init__(
        self, app: ASGIApp, *, database: RequestDatabase, max_body_bytes: int = 1024 * 1024
    ) -> None:
        self.app = app
        self.database = database
        self.max_body_bytes = max_body_bytes
        self.route_template = RouteTemplates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = ""
        content_length = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if _SANE_REQUEST_ID.match(candidate):
                    request_id = candidate
            elif name == b"content-length":
                content_length = value
        request_id = request_id or uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status_holder = [500]
        header_value = request_id.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", header_value)]
            await send(message)

        try:
            upload = file_upload(scope)
            limit = upload.max_bytes if upload is not None else self.max_body_bytes
            too_large = False
            if content_length is not None:
                try:
                    too_large = int(content_length) > limit
                except ValueError:
                    too_large = False
            if upload is not None:
                # A file: streamed to the route, which counts it as it reads (app.kit.uploads).
                receive = counted(receive, upload)
            elif not too_large and scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
                body, receive = await read_body(receive, self.max_body_bytes)
                too_large = body is None
            if too_large:
                status_holder[0] = 413
                detail = (
                    upload.too_large().detail
                    if upload is not None
                    else f"Request bodies are limited to {self.max_body_bytes} bytes."
                )
                await _send_problem(send, 413, "payload_too_large", detail, request_id)
                return
            await self.app(scope, receive, send_with_id)
        finally:
            for key in (SESSION_STATE_KEY, READ_SESSION_STATE_KEY):
                session = state.pop(key, None)
                if session is not None:  # opened by the get_session or get_read_session
                    await session.close()
            connection = state.pop(CONNECTION_STATE_KEY, None)
            if connection is not None:  # checked out by the request_connection dependency
                await self.database.release(connection)
            thread_session = state.pop(THREAD_SESSION_STATE_KEY, None)
            if thread_session is not None:  # opened by the get_thread_session dependency
                await run_in_threadpool(thread_session.close)
            if log.isEnabledFor(logging.INFO):  # the line's fields cost work of their own
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "route": self.route_template(scope),
                        "status": status_holder[0],
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "request_id": request_id,
                        "user_id": state.get("user_id"),
                    },
                )


@overload
async def read_body(receive: Receive) -> tuple[bytes, Receive]: ...
@overload
async def read_body(receive: Receive, max_bytes: int) -> tuple[bytes | None, Receive]: ...
async def read_body(receive: Receive, max_bytes: int | None = None) -> tuple[bytes | None, Receive]:
    """Read the whole request body and return it with a ``receive`` that hands it on unchanged.

    Past ``max_bytes`` reading stops and the body is None. A client gone mid-body leaves an
    empty body (the disconnect is passed on to whoever receives next).
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            chunks.clear()
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            return None, receive
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay
