"""The ``Idempotency-Key`` header: pure ASGI middleware, and its place in the OpenAPI document.

A POST under ``/api/v1`` sent with an ``Idempotency-Key`` by an authenticated caller runs at
most once per (user, key). A retry with the same key and the same request (method, path,
query and body) gets the stored response again (status, body, ``ETag``, ``Location``, plus
``Idempotent-Replayed: true``); with another request it is a 422; while the first one still
runs it is a 409. Responses of 5xx, 401 and 429 are not stored: a retry runs again.

Not covered, on purpose: the ``/auth`` operations (no caller to scope a key by, and their
responses carry credentials) and ``POST /tokens`` (its response carries a secret that must
never be stored or shown twice). There the header is ignored, and not declared.

The caller is resolved here with the same service function ``current_user`` uses, and left
in ``scope["state"]["principal"]`` so the dependency does not resolve it a second time.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from sqlmodel import Session
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.accounts import tokens as access_tokens
from app.idempotency import service
from app.kit.config import Settings
from app.kit.database import RequestDatabase
from app.kit.errors import AppError
from app.kit.middleware import read_body
from app.kit.problems import PROBLEM_MEDIA_TYPE, problem_response

log = logging.getLogger("infoview.idempotency")

HEADER = "Idempotency-Key"
_HEADER_BYTES = HEADER.lower().encode()
API_PREFIX = "/api/v1/"
EXEMPT_PREFIXES = ("/api/v1/auth/", "/api/v1/tokens", "/api/v1/calendar/token")
STORED_HEADERS = ("content-type", "etag", "location")
# Larger responses are passed through unstored (and the key released): POST answers are small.
MAX_STORED_BODY = 1024 * 1024
_UNSTORED_STATUSES = frozenset({401, 429})
PURGE_EVERY_SECONDS = 60.0


def takes_idempotency_key(method: str, path: str) -> bool:
    """Whether a request (or an OpenAPI path template) honours ``Idempotency-Key``."""
    return (
        method.upper() == "POST"
        and path.startswith(API_PREFIX)
        and not path.startswith(EXEMPT_PREFIXES)
    )


def _valid_key(key: str) -> bool:
    return 0 < len(key) <= service.MAX_KEY_LENGTH and key.strip() != "" and key.isprintable()


def _bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


class IdempotencyMiddleware:
    """Run a keyed POST once per user and key; replay its stored response to retries."""

    def __init__(self, app: ASGIApp, *, settings: Settings, database: RequestDatabase) -> None:
        self.app = app
        self.settings = settings
        self.database = database
        self._ttl = timedelta(hours=settings.idempotency_hours)
        self._next_purge = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not takes_idempotency_key(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        key = None
        for name, value in scope["headers"]:
            if name == _HEADER_BYTES:
                key = value.decode("latin-1")
        if key is None:
            await self.app(scope, receive, send)
            return
        if not _valid_key(key):
            await self._problem(
                scope,
                receive,
                send,
                AppError(
                    f"{HEADER} must be 1 to {service.MAX_KEY_LENGTH} printable characters.",
                    code="invalid_idempotency_key",
                ),
            )
            return
        token = _bearer(scope["headers"])
        if token is None:  # the route answers 401 itself (or needs no caller: key ignored)
            await self.app(scope, receive, send)
            return
        async with self.database.session() as session:
            try:
                principal = await session.run(access_tokens.resolve_principal, self.settings, token)
            except AppError:  # let current_user give the 401, exactly as without a key
                principal = None
        if principal is None:
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal

        body, receive = await read_body(receive)
        fingerprint = service.fingerprint(
            scope["method"], scope["path"], scope.get("query_string", b"").decode("latin-1"), body
        )
        try:
            async with self.database.session() as session:
                await session.run(self._maybe_purge)
                outcome = await session.run(
                    service.claim,
                    principal.id,
                    key,
                    method=scope["method"],
                    path=scope["path"],
                    request_fingerprint=fingerprint,
                    ttl=self._ttl,
                )
        except AppError as exc:
            await self._problem(scope, receive, send, exc)
            return
        if isinstance(outcome, service.StoredResponse):
            await _replay(send, outcome)
            return
        await self._run(scope, receive, send, outcome)

    def _maybe_purge(self, session: Session) -> None:
        now = time.monotonic()
        if now < self._next_purge:
            return
        self._next_purge = now + PURGE_EVERY_SECONDS
        try:
            service.purge_expired(session, self.settings.idempotency_hours)
        except Exception:  # housekeeping must never fail a request
            session.rollback()
            log.exception("purging expired idempotency records failed")

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, claimed: service.Claimed
    ) -> None:
        """Run the request, hold its response back until it is stored, then send it."""
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        streaming = False  # too large to store: passed straight through
        finished = False

        async def capture(message: Message) -> None:
            nonlocal start, size, streaming, finished
            if streaming:
                await send(message)
                return
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = message.get("more_body", False)
            if size > MAX_STORED_BODY and more:
                streaming = True
                await send(start)
                await send(
                    {"type": "http.response.body", "body": b"".join(chunks), "more_body": True}
                )
                return
            if not more:
                finished = True

        try:
            await self.app(scope, receive, capture)
        except BaseException:
            await self._release(claimed)
            raise
        if streaming or not finished or start is None:
            await self._release(claimed)
            if start is not None and not streaming:
                await send(start)
                await send({"type": "http.response.body", "body": b"".join(chunks)})
            return
        status = int(start["status"])
        body = b"".join(chunks)
        if status >= 500 or status in _UNSTORED_STATUSES:
            await self._release(claimed)
        else:
            headers = {
                name.decode("latin-1").lower(): value.decode("latin-1")
                for name, value in start.get("headers", [])
                if name.decode("latin-1").lower() in STORED_HEADERS
            }
            try:
                async with self.database.session() as session:
                    await session.run(service.complete, claimed.record_id, status, headers, body)
            except Exception:  # the client still gets its answer; the claim goes stale
                log.exception("storing an idempotent response failed")
        await send(start)
        await send({"type": "http.response.body", "body": body})

    async def _release(self, claimed: service.Claimed) -> None:
        try:
            async with self.database.session() as session:
                await session.run(service.release, claimed.record_id)
        except Exception:  # a stale claim is taken over after LOCK_TIMEOUT anyway
            log.exception("releasing an idempotency key failed")

    async def _problem(self, scope: Scope, receive: Receive, send: Send, exc: AppError) -> None:
        response = problem_response(
            Request(scope),
            exc.status,
            exc.code,
            exc.detail,
            title=exc.title,
            headers=exc.headers,
        )
        await response(scope, receive, send)


async def _replay(send: Send, stored: service.StoredResponse) -> None:
    headers = [
        (name.encode("latin-1"), value.encode("latin-1")) for name, value in stored.headers.items()
    ]
    headers += [
        (b"content-length", str(len(stored.body)).encode()),
        (b"idempotent-replayed", b"true"),
    ]
    await send({"type": "http.response.start", "status": stored.status, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body})


# --- OpenAPI ----------------------------------------------------------------------------------

_PARAMETER: dict[str, Any] = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": (
        "A unique key (e.g. a UUID) that makes this request safe to retry: for "
        "`INFOVIEW_IDEMPOTENCY_HOURS` (24 h by default) a retry with the same key and the "
        "same request gets the first response again, with `Idempotent-Replayed: true`, "
        "instead of running twice. Keys are per user."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": service.MAX_KEY_LENGTH},
}
_RESPONSES = {
    "400": "The Idempotency-Key is empty, too long or not printable (`invalid_idempotency_key`)",
    "409": "A request with the same Idempotency-Key is still in progress "
    "(`idempotency_in_progress`)",
    "422": "The Idempotency-Key was already used with a different request "
    "(`idempotency_key_reused`)",
}


def declare_in_openapi(app: FastAPI) -> None:
    """Declare the header, and the problems it can cause, on every operation that honours it."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        for path, item in document.get("paths", {}).items():
            operation = item.get("post")
            if operation is None or not takes_idempotency_key("POST", path):
                continue
            parameters = operation.setdefault("parameters", [])
            if any(p.get("name") == HEADER for p in parameters):
                continue  # already declared (the document is cached and built once)
            parameters.append(copy.deepcopy(_PARAMETER))
            responses = operation.setdefault("responses", {})
            for status, description in _RESPONSES.items():
                if status in responses:
                    responses[status]["description"] += (
                        f"; or: {description[0].lower()}{description[1:]}"
                    )
                else:
                    responses[status] = {
                        "description": description,
                        "content": {
                            PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
                        },
                    }
        return document

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = ["IdempotencyMiddleware", "declare_in_openapi", "takes_idempotency_key"]
