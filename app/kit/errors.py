"""Domain errors. Each carries its HTTP status and a stable machine-readable code.

Services raise these; one handler in the API layer turns them into RFC 9457 problem details.
Nothing here knows about HTTP frameworks.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

# The title of every problem of a status, whatever raised it: HTTP's reason phrase (RFC 9110's
# words, where Python's older table differs) in sentence case.
TITLES: dict[int, str] = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    410: "Gone",
    412: "Precondition failed",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    428: "Precondition required",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def title_of(status: int) -> str:
    """The title of a problem with this status (:data:`TITLES`, else the reason phrase)."""
    if status in TITLES:
        return TITLES[status]
    phrase = HTTPStatus(status).phrase
    return phrase[:1] + phrase[1:].lower()


class AppError(Exception):
    """Base of every error that reaches a client as a problem document."""

    status: int = 400
    code: str = "bad_request"
    title: str = TITLES[400]

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if code:
            self.code = code
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra


class BadRequest(AppError):
    status, code, title = 400, "bad_request", TITLES[400]


class Unauthorized(AppError):
    status, code, title = 401, "unauthorized", TITLES[401]

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


def caller_gone() -> Unauthorized:
    """The 401 for a token whose account no longer exists (or was never valid)."""
    return Unauthorized("The access token is invalid or expired.", code="invalid_token")


class Forbidden(AppError):
    status, code, title = 403, "forbidden", TITLES[403]


class NotFound(AppError):
    status, code, title = 404, "not_found", TITLES[404]


class Conflict(AppError):
    status, code, title = 409, "conflict", TITLES[409]


class PreconditionFailed(AppError):
    status, code, title = 412, "precondition_failed", TITLES[412]


class PayloadTooLarge(AppError):
    status, code, title = 413, "payload_too_large", TITLES[413]


class Unprocessable(AppError):
    status, code, title = 422, "validation_error", TITLES[422]


class TooManyRequests(AppError):
    status, code, title = 429, "rate_limited", TITLES[429]


class ServiceUnavailable(AppError):
    status, code, title = 503, "not_ready", TITLES[503]
