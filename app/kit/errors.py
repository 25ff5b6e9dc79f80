"""Domain errors. Each carries its HTTP status and a stable machine-readable code.

Services raise these; one handler in the API layer turns them into RFC 9457 problem details.
Nothing here knows about HTTP frameworks.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """Base of every error that reaches a client as a problem document."""

    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

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
    status, code, title = 400, "bad_request", "Bad request"


class Unauthorized(AppError):
    status, code, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


def caller_gone() -> Unauthorized:
    """The 401 for a token whose account no longer exists (or was never valid)."""
    return Unauthorized("The access token is invalid or expired.", code="invalid_token")


class Forbidden(AppError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(AppError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(AppError):
    status, code, title = 409, "conflict", "Conflict"


class PreconditionFailed(AppError):
    status, code, title = 412, "precondition_failed", "Precondition failed"


class PayloadTooLarge(AppError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class Unprocessable(AppError):
    status, code, title = 422, "validation_error", "Unprocessable content"


class TooManyRequests(AppError):
    status, code, title = 429, "rate_limited", "Too many requests"


class ServiceUnavailable(AppError):
    status, code, title = 503, "not_ready", "Service unavailable"
