"""The ``Idempotency-Key`` header: pure ASGI middleware, and its place in the OpenAPI document.

A POST under ``/api/v1`` sent with an ``Idempotency-Key`` by an authenticated caller runs at
most once per (user, key); :mod:`app.idempotency.service` says what is kept and why a key is
never run twice. A retry with the same key, the same request (method, path, query and body)
and the same credential gets the stored success again (status, body, ``ETag``, ``Location``,
plus ``Idempotent-Replayed: true`` and ``Cache-Control: no-store``); with another request or
another credential it is a 422; while the first one still runs it is a 409.

Before anything is claimed or replayed, the caller is held to the operation's scopes with the
rule every route uses (:func:`app.accounts.tokens.authorize`): a personal access token without
them gets the route's own 403, exactly as without a key.

Responses that carry a secret are never stored: the operations in :data:`SECRET_RESPONSES`
are declared here, by operation id, and a retry of one is a 409 that points at the resource.

Not covered, on purpose: the ``/auth`` operations (no caller to scope a key by, and their
responses carry credentials). There the header is ignored, and not declared.

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
from fastapi.routing import RouteContext, iter_route_contexts
from sqlmodel import Session
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.accounts import tokens as access_tokens
from app.idempotency import service
from app.kit.api import API_PREFIX
from app.kit.config import Settings
from app.kit.database import RequestDatabase
from app.kit.errors import AppError
from app.kit.middleware import read_body
from app.kit.problems import PROBLEM_MEDIA_TYPE, problem_response
from app.kit.route_index import chosen_route

log = logging.getLogger("infoview.idempotency")

HEADER = "Idempotency-Key"
_HEADER_BYTES = HEADER.lower().encode()
EXEMPT_PREFIXES = (f"{API_PREFIX}/auth/",)
STORED_HEADERS = ("content-type", "etag", "location")
MAX_STORED_BODY = service.MAX_STORED_BODY
PURGE_EVERY_SECONDS = 60.0

# The operations whose success carries a secret shown once: their response is never stored.
# Each names the operation that reads the resource, when the response's Location does not.
SECRET_RESPONSES: dict[str, str | None] = {
    "tokens-create": None,  # Location: the token
    "apps-create": None,  # Location: the app (a confidential app's secret is shown only here)
    "calendar-rotate-token": None,  # the feed token is shown nowhere else
    "mail-inbound-rotate": None,  # the inbound address is shown nowhere else
    "webhooks-create": None,  # Location: the subscription
    "webhooks-rotate-secret": "webhooks-get",
}


def takes_idempotency_key(method: str, path: str) -> bool:
    """Whether a request (or an OpenAPI path template) honours ``Idempotency-Key``."""
    return (
        method.upper() == "POST"
        and path.startswith(f"{API_PREFIX}/")
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


def _operation(scope: Scope) -> tuple[RouteContext, dict[str, Any]] | None:
    """The route the request is for, and its path parameters, as the router will find them."""
    found = chosen_route(scope)
    if found is None:
        return None
    context, child_scope = found
    return context, dict(child_scope.get("path_params", {}))


def _resource_path(scope: Scope, operation_id: str, params: dict[str, Any]) -> str | None:
    """The path of operation ``operation_id`` filled in with ``params``."""
    for context in iter_route_contexts(getattr(scope.get("app"), "routes", [])):
        if getattr(context, "operation_id", None) == operation_id and context.path_format:
            return str(context.path_format).format(**params)
    return None


class IdempotencyMiddleware:
    """Run a keyed POST once per user and key; replay its stored success to retries."""

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
        found = _operation(scope)
        if found is None:  # no such operation: the router answers 404 or 405
            await self.app(scope, receive, send)
            return
        operation, path_params = found
        try:
            # The one scope rule, before any replay: a token without the operation's scope gets
            # the route's own 403, and nothing is claimed.
            access_tokens.authorize(principal, getattr(operation, "tags", ()), scope["method"])
        except AppError:
            await self.app(scope, receive, send)
            return

        body, receive = await read_body(receive)
        fingerprint = service.fingerprint(
            scope["method"],
            scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            body,
            token_id=principal.token_id,
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
        operation_id = getattr(operation, "operation_id", None)
        secret = operation_id in SECRET_RESPONSES
        resource = SECRET_RESPONSES.get(operation_id or "")
        link = _resource_path(scope, resource, path_params) if resource else None
        await self._run(scope, receive, send, outcome, secret=secret, link=link)

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
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        claimed: service.Claimed,
        *,
        secret: bool,
        link: str | None,
    ) -> None:
        """Run the request; record its outcome before the client sees the end of the answer.

        A response is held back until it is recorded, up to :data:`MAX_STORED_BODY`; a larger
        one is passed through as it comes, all but its last part.
        """
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        streaming = False  # too large to keep: passed through as it comes
        last: Message | None = None  # the final part, held back until the outcome is recorded

        async def capture(message: Message) -> None:
            nonlocal start, size, streaming, last
            if message["type"] == "http.response.start" and start is None:
                start = message
                return
            if message["type"] != "http.response.body" or start is None or last is not None:
                await send(message)
                return
            more = message.get("more_body", False)
            if streaming:
                if more:
                    await send(message)
                else:
                    last = message
                return
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if not more:
                last = message
            elif size > MAX_STORED_BODY:
                streaming = True
                await send(start)
                await send(
                    {"type": "http.response.body", "body": b"".join(chunks), "more_body": True}
                )
                chunks.clear()

        try:
            await self.app(scope, receive, capture)
        except Exception:
            # A failure frees the key. Anything else (cancellation, shutdown) leaves the claim
            # unresolved: the write may have committed, so it is never run again.
            await self._release(claimed)
            raise
        status = int(start["status"]) if start is not None else 0
        if last is None or not 200 <= status < 300:
            await self._release(claimed)
        else:
            await self._record(claimed, start, chunks, size, secret=secret, link=link)
        if start is not None and not streaming:
            await send(start)
            await send({"type": "http.response.body", "body": b"".join(chunks)})
        elif last is not None:
            await send(last)

    async def _record(
        self,
        claimed: service.Claimed,
        start: Message | None,
        chunks: list[bytes],
        size: int,
        *,
        secret: bool,
        link: str | None,
    ) -> None:
        assert start is not None
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in start.get("headers", [])
            if name.decode("latin-1").lower() in STORED_HEADERS
        }
        status = int(start["status"])
        try:
            async with self.database.session() as session:
                if secret or size > MAX_STORED_BODY:
                    await session.run(
                        service.complete_without_body,
                        claimed.record_id,
                        status,
                        headers.get("location") or link,
                        secret=secret,
                    )
                else:
                    await session.run(
                        service.complete, claimed.record_id, status, headers, b"".join(chunks)
                    )
        except Exception:  # the client still gets its answer; the key stays unresolved
            log.exception("recording an idempotent response failed")

    async def _release(self, claimed: service.Claimed) -> None:
        try:
            async with self.database.session() as session:
                await session.run(service.release, claimed.record_id)
        except Exception:  # the key stays unresolved: a retry is told so, and never runs it
            log.exception("releasing an idempotency key failed")

    async def _problem(self, scope: Scope, receive: Receive, send: Send, exc: AppError) -> None:
        response = problem_response(
            Request(scope),
            exc.status,
            exc.code,
            exc.detail,
            title=exc.title,
            headers=exc.headers,
            extra=exc.extra,
        )
        await response(scope, receive, send)


async def _replay(send: Send, stored: service.StoredResponse) -> None:
    headers = [
        (name.encode("latin-1"), value.encode("latin-1")) for name, value in stored.headers.items()
    ]
    headers += [
        (b"content-length", str(len(stored.body)).encode()),
        # A replay is for the one client that retried; no cache along the way keeps it.
        (b"cache-control", b"no-store"),
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
        "`INFOVIEW_IDEMPOTENCY_HOURS` (24 h by default) it never runs twice. A retry with the "
        "same key, the same request and the same credential gets the first success again, "
        "with `Idempotent-Replayed: true` and `Cache-Control: no-store`; a success over "
        f"{MAX_STORED_BODY // 1024} KiB is not kept (a retry gets a 409 "
        "`idempotency_response_not_kept`). A failed request frees its key for a retry. Keys "
        "are per user."
    ),
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": service.MAX_KEY_LENGTH,
        # Visible characters, spaces only inside: what every client can send and read back.
        "pattern": "^[!-~]([ -~]*[!-~])?$",
    },
}
_SECRET_NOTE = (
    " This operation's response carries a secret, which is never kept: a retry with the key "
    "does not run it again and gets a 409 `idempotency_response_not_kept` instead."
)
_RESPONSES = {
    "400": "The Idempotency-Key is empty, too long or not printable (`invalid_idempotency_key`)",
    "409": "A request with the same Idempotency-Key is still in progress "
    "(`idempotency_in_progress`), was interrupted and will not run again "
    "(`idempotency_outcome_unknown`), or succeeded with a response that is not kept "
    "(`idempotency_response_not_kept`)",
    "422": "The Idempotency-Key was already used with a different request or credential "
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
            parameter = copy.deepcopy(_PARAMETER)
            if operation.get("operationId") in SECRET_RESPONSES:
                parameter["description"] += _SECRET_NOTE
            parameters.append(parameter)
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


__all__ = [
    "SECRET_RESPONSES",
    "IdempotencyMiddleware",
    "declare_in_openapi",
    "takes_idempotency_key",
]
