"""The calendar subscription: an iCalendar feed opened by its own token, and that token.

Calendar apps fetch a URL and cannot send an ``Authorization`` header, so the feed takes no
bearer token (``security: []``) but ``?token=`` instead: a secret that opens the feed and
nothing else, created or rotated with ``POST /calendar/token`` and shown only then.
"""

from __future__ import annotations

from datetime import UTC
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from pydantic import Field as PydanticField
from sqlmodel import Session

from app.accounts.deps import CurrentUser, SessionDep, SettingsDep, ThreadSessionDep
from app.calendar import feed as calendar_feed
from app.calendar import service as calendar_tokens
from app.kit.api import API_PREFIX
from app.kit.problems import declared_headers, problem_responses

router = APIRouter(prefix=API_PREFIX, tags=["calendar"])

FEED_PATH = "/api/v1/calendar.ics"
ICALENDAR = "text/calendar"


class CalendarToken(BaseModel):
    """A new calendar feed token. Shown only in this response."""

    token: str = PydanticField(description="The secret; it opens the feed and nothing else.")
    feed_url: str = PydanticField(
        description="The feed's absolute URL with the token, to subscribe to in a calendar app."
    )


@router.post(
    "/calendar/token",
    operation_id="calendar-rotate-token",
    response_model=CalendarToken,
    responses=problem_responses(401, 403, 422),
)
async def rotate_calendar_token(
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> CalendarToken:
    """Create or replace your calendar feed token; the previous one stops working at once."""
    secret = await session.run(calendar_tokens.rotate, user.id)
    response.headers["Cache-Control"] = "no-store"
    # Absolute, as a calendar app needs it: where clients reach the API from outside when
    # that is configured, else where this request came in.
    base = settings.public_base_url or str(request.base_url).rstrip("/")
    return CalendarToken(token=secret, feed_url=f"{base}{FEED_PATH}?token={secret}")


@router.delete(
    "/calendar/token",
    operation_id="calendar-revoke-token",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403),
)
async def revoke_calendar_token(user: CurrentUser, session: SessionDep) -> Response:
    """Turn your calendar feed off: its current token stops working at once."""
    await session.run(calendar_tokens.revoke, user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


_TOKEN_QUERY = Query(
    max_length=calendar_tokens.MAX_QUERY_LENGTH,
    description="The calendar feed token from POST /api/v1/calendar/token.",
)
_IF_NONE_MATCH = Header(
    max_length=1000, description="The ETag of the copy you hold: 304 while it still matches."
)
_IF_MODIFIED_SINCE = Header(
    max_length=100,
    description="The Last-Modified of the copy you hold: 304 while nothing shown changed "
    "since (ignored when If-None-Match is sent).",
)


@router.get(
    "/calendar.ics",
    operation_id="calendar-feed",
    response_class=Response,
    responses={
        200: {
            "description": "The feed, as iCalendar (RFC 5545), with its ETag and Last-Modified.",
            "headers": declared_headers("ETag", "Last-Modified"),
            "content": {ICALENDAR: {"schema": {"type": "string"}}},
        },
        304: {
            "description": "Unchanged since the copy named in If-None-Match/-Modified-Since.",
            "headers": declared_headers("ETag", "Last-Modified"),
        },
        **problem_responses(401, 422),
    },
    openapi_extra={"security": []},
)
async def calendar_feed_ics(
    session: ThreadSessionDep,
    token: Annotated[str | None, _TOKEN_QUERY] = None,
    if_none_match: Annotated[str | None, _IF_NONE_MATCH] = None,
    if_modified_since: Annotated[str | None, _IF_MODIFIED_SINCE] = None,
) -> Response:
    """Your scheduled interviews and due actions, as an iCalendar feed to subscribe to.

    ``HEAD`` answers with the same headers and no body; a copy still current (``ETag`` in
    ``If-None-Match``, or ``Last-Modified`` in ``If-Modified-Since``) is a ``304``."""
    return await _feed(session, token, if_none_match, if_modified_since, with_body=True)


@router.head("/calendar.ics", include_in_schema=False)
async def calendar_feed_ics_head(
    session: ThreadSessionDep,
    token: Annotated[str | None, _TOKEN_QUERY] = None,
    if_none_match: Annotated[str | None, _IF_NONE_MATCH] = None,
    if_modified_since: Annotated[str | None, _IF_MODIFIED_SINCE] = None,
) -> Response:
    """The feed's headers, without its body."""
    return await _feed(session, token, if_none_match, if_modified_since, with_body=False)


async def _feed(
    session: Session,
    token: str | None,
    if_none_match: str | None,
    if_modified_since: str | None,
    *,
    with_body: bool,
) -> Response:
    user = await run_in_threadpool(calendar_tokens.user_for, session, token)
    # Up to 1,000 events take the icalendar library a good fraction of a second: built off the
    # event loop, so other requests on this worker keep being served meanwhile.
    feed = await run_in_threadpool(calendar_feed.build, session, user.id)
    headers = {
        "ETag": feed.etag,
        "Last-Modified": format_datetime(feed.last_modified, usegmt=True),
        # Calendar apps may keep a copy, but ask again each time (with the validators above);
        # no shared cache keeps it, since its URL holds a secret.
        "Cache-Control": "private, no-cache",
    }
    if _still_current(feed, if_none_match, if_modified_since):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    headers["Content-Disposition"] = 'inline; filename="infoview.ics"'
    if not with_body:
        headers["Content-Length"] = str(len(feed.body))
    return Response(
        content=feed.body if with_body else b"",
        media_type=f"{ICALENDAR}; charset=utf-8",
        headers=headers,
    )


def _still_current(
    feed: calendar_feed.Feed, if_none_match: str | None, if_modified_since: str | None
) -> bool:
    """Whether the client's copy is the current feed. If-None-Match decides when sent (weak
    comparison); If-Modified-Since only without it, and a date that does not parse is ignored.
    """
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or feed.etag in tags
    if not if_modified_since:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return feed.last_modified <= since
