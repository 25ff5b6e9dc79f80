"""The rate limits, as dependencies: the auth endpoints per address and per email, writes per user.

A refused request is a 429 problem with ``Retry-After`` and the IETF ``RateLimit-Policy`` /
``RateLimit`` headers (draft-ietf-httpapi-ratelimit-headers); an allowed one carries them too.
The client address is ``request.client.host``: uvicorn's ``proxy_headers`` puts the real one
there when the request comes through a trusted proxy.

Each auth endpoint counts on its own (a login does not eat into the registrations), with the
same two policies: ``auth-address`` and ``auth-email``. Emails are hashed before they become
keys.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import Request, Response

from app.kit.config import Settings
from app.kit.errors import TooManyRequests
from app.kit.media_types import parse_content_type
from app.kit.rate_limiter import Hit, Policy, RateLimiter, Usage, hashed

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_MAX_EMAIL = 320


_OPENAPI_HEADERS = {
    "Retry-After": {
        "description": "Seconds until the exhausted window ends.",
        "schema": {"type": "integer", "minimum": 1},
    },
    "RateLimit-Policy": {
        "description": 'The policies that apply, e.g. `"auth-address";q=10;w=60`.',
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'Where the caller stands in each, e.g. `"auth-address";r=0;t=37`.',
        "schema": {"type": "string"},
    },
}


def with_rate_limit_headers(responses: dict[int | str, dict[str, Any]]) -> dict[int | str, Any]:
    """Document the rate-limit headers on the 429 of ``problem_responses(..., 429)``."""
    responses[429] = {**responses[429], "headers": _OPENAPI_HEADERS}
    return responses


def rate_limit_headers(usages: Sequence[Usage]) -> dict[str, str]:
    """``RateLimit-Policy`` and ``RateLimit`` for where the caller stands."""
    return {
        "RateLimit-Policy": ", ".join(u.policy.header() for u in usages),
        "RateLimit": ", ".join(u.header() for u in usages),
    }


async def enforce(request: Request, response: Response, hits: Sequence[Hit]) -> None:
    """Count the hits; refuse with 429 when any policy is exhausted, else set the headers."""
    limiter: RateLimiter = request.app.state.ratelimiter
    usages = await limiter.hit(hits)
    if not usages:  # Redis unreachable: fail open, the limiter has logged it
        return
    headers = rate_limit_headers(usages)
    denied = [u for u in usages if not u.allowed]
    if denied:
        retry_after = max(u.reset_seconds for u in denied)
        raise TooManyRequests(
            f"Too many requests; try again in {retry_after} seconds.",
            headers={"Retry-After": str(retry_after), **headers},
        )
    response.headers.update(headers)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _auth_policies(settings: Settings) -> tuple[Policy, Policy]:
    limit = settings.rate_limit_auth_per_minute
    return Policy("auth-address", limit), Policy("auth-email", limit)


async def _email(request: Request) -> str | None:
    """The email the request is about: ``email`` in a JSON body, ``username`` in a form.

    FastAPI has already read (and cached) the body by the time dependencies run, so this costs
    a parse, not a second read. A body that is not what the endpoint expects has no email; its
    request still counts against the address. The content type is judged as FastAPI judges it
    (without regard to case or parameters): a body the endpoint reads always has its email
    counted, however its ``Content-Type`` is spelled.
    """
    content_type = parse_content_type(request.headers.get("content-type"))
    value: object = None
    if content_type.is_json:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return None
        if isinstance(body, dict):
            value = body.get("email")
    elif content_type.is_form:
        value = (await request.form()).get("username")
    if isinstance(value, str) and 0 < len(value) <= _MAX_EMAIL:
        return value.strip().lower()
    return None


async def _limit_auth(request: Request, response: Response, endpoint: str) -> None:
    by_address, by_email = _auth_policies(request.app.state.settings)
    hits: list[Hit] = [(by_address, f"{endpoint}:{_address(request)}")]
    if endpoint not in {"refresh", "logout"}:  # their bodies name no account
        email = await _email(request)
        if email:
            hits.append((by_email, f"{endpoint}:{hashed(email)}"))
    await enforce(request, response, hits)


async def limit_register(request: Request, response: Response) -> None:
    """Registrations per address and per email."""
    await _limit_auth(request, response, "register")


async def limit_token(request: Request, response: Response) -> None:
    """Logins per address and per email (the form's ``username``)."""
    await _limit_auth(request, response, "token")


async def limit_refresh(request: Request, response: Response) -> None:
    """Token refreshes per address."""
    await _limit_auth(request, response, "refresh")


async def limit_logout(request: Request, response: Response) -> None:
    """Logouts per address: each one takes no access token, so nothing else bounds them."""
    await _limit_auth(request, response, "logout")


#: ``openapi_extra`` of an operation that takes its input in a POST body but only reads (it
#: saves nothing): a read for personal-token scopes and for the write rate limit.
READS_ONLY: dict[str, Any] = {"x-reads-only": True}


def effective_method(request: Request) -> str:
    """The request's method, or ``GET`` for an operation declared :data:`READS_ONLY`."""
    route = request.scope.get("route")
    if getattr(route, "openapi_extra", None) == READS_ONLY:
        return "GET"
    return request.method


async def limit_writes(request: Request, response: Response, user_id: uuid.UUID) -> None:
    """Writes (any non-safe method) per user; called by ``current_user``."""
    if effective_method(request) in SAFE_METHODS:
        return
    policy = Policy("writes", request.app.state.settings.rate_limit_writes_per_minute)
    await enforce(request, response, [(policy, str(user_id))])
