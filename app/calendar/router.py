"""The calendar subscription: an iCalendar feed opened by its own token, and that token.

Calendar apps fetch a URL and cannot send an ``Authorization`` header, so the feed takes no
bearer token (``security: []``) but ``?token=`` instead: a secret that opens the feed and
nothing else, created or rotated with ``POST /calendar/token`` and shown only then.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from pydantic import Field as PydanticField

from app.accounts.deps import CurrentUser, SessionDep, ThreadSessionDep
from app.calendar import feed as calendar_feed
from app.calendar import service as calendar_tokens
from app.kit.problems import problem_responses

router = APIRouter(tags=["calendar"])

FEED_PATH = "/api/v1/calendar.ics"
ICALENDAR = "text/calendar"


class CalendarToken(BaseModel):
    """A new calendar feed token. Shown only in this response."""

    token: str = PydanticField(description="The secret; it opens the feed and nothing else.")
    feed_url: str = PydanticField(
        description="The feed's URL with the token, to subscribe to in a calendar app."
    )


@router.post(
    "/calendar/token",
    operation_id="calendar-rotate-token",
    response_model=CalendarToken,
    responses=problem_responses(401, 403, 422),
)
async def rotate_calendar_token(
    user: CurrentUser, session: SessionDep, response: Response
) -> CalendarToken:
    """Create or replace your calendar feed token; the previous one stops working at once."""
    secret = await session.run(calendar_tokens.rotate, user.id)
    response.headers["Cache-Control"] = "no-store"
    return CalendarToken(token=secret, feed_url=f"{FEED_PATH}?token={secret}")


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


@router.get(
    "/calendar.ics",
    operation_id="calendar-feed",
    response_class=Response,
    responses={
        200: {
            "description": "The feed, as iCalendar (RFC 5545).",
            "content": {ICALENDAR: {"schema": {"type": "string"}}},
        },
        **problem_responses(401, 422),
    },
    openapi_extra={"security": []},
)
async def calendar_feed_ics(
    session: ThreadSessionDep,
    token: Annotated[
        str | None,
        Query(
            max_length=calendar_tokens.MAX_QUERY_LENGTH,
            description="The calendar feed token from POST /api/v1/calendar/token.",
        ),
    ] = None,
) -> Response:
    """Your scheduled interviews and due actions, as an iCalendar feed to subscribe to."""
    user = await run_in_threadpool(calendar_tokens.user_for, session, token)
    # Up to 1,000 events take the icalendar library a good fraction of a second: built off the
    # event loop, so other requests on this worker keep being served meanwhile.
    body = await run_in_threadpool(calendar_feed.build, session, user.id)
    return Response(
        content=body,
        media_type=f"{ICALENDAR}; charset=utf-8",
        headers={
            "Cache-Control": "private, no-store",
            "Content-Disposition": 'inline; filename="infoview.ics"',
        },
    )
