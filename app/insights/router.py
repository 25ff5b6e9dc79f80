"""HTTP for the figures and the field briefs."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BeforeValidator, TypeAdapter
from pydantic import Field as PydanticField
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from app.accounts.deps import ConnectionDep, CurrentReader
from app.insights import briefs
from app.insights import service as insights_service
from app.insights.schemas import FieldBrief, Stats, StatsGrouping
from app.kit.api import API_PREFIX
from app.kit.database import scan
from app.kit.downloads import attachment
from app.kit.errors import Unprocessable
from app.kit.problems import problem_responses
from app.kit.schemas import Timestamp

router = APIRouter(prefix=API_PREFIX, tags=["insights"])

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _calendar_day(value: Any) -> Any:
    """A day written as YYYY-MM-DD, nothing else taken for one."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value
    raise ValueError("must be a date (YYYY-MM-DD) or an RFC 3339 date-time with an offset")


Day = Annotated[date, BeforeValidator(_calendar_day)]
PeriodBound = Annotated[Timestamp | Day, PydanticField(union_mode="left_to_right")]


def _start(value: datetime | date | None) -> datetime | None:
    """A day starts the period at its midnight (UTC)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value, time(), UTC)


def _end(value: datetime | date | None) -> datetime | None:
    """A day ends the period with it: at the next midnight (UTC)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value + timedelta(days=1), time(), UTC)


_STATS_DESCRIPTION = """\
Funnel and courtesy figures over your interviews asked for within the period (`from`
inclusive, `to` exclusive for a time and inclusive for a day, days in UTC; both optional),
broken down by `group_by`:

- the interviews in each state now;
- for each forward step of the workflow, how many interviews reached its first state, how many
  of those went on to the next (by their recorded moves), the conversion and the median days
  between the two;
- the share of held interviews whose interviewee was thanked within 24 hours of the interview,
  and of those with referrers, the share where every referrer got a report-back within 7 days;
- the referrals the people interviewed gave, per held interview;
- the referrers whose leads led to the most held interviews (`top` per group).

Groups with the most interviews come first; at most `limit` of them, `groups_left_out` says how
many more there were.
"""


@router.get(
    "/stats",
    operation_id="insights-stats",
    response_model=Stats,
    responses=problem_responses(401, 403, 422),
    description=_STATS_DESCRIPTION,
)
async def get_stats(
    connection: ConnectionDep,
    user: CurrentReader,
    group_by: Annotated[
        StatsGrouping, Query(description="What to break the figures down by.")
    ] = StatsGrouping.NONE,
    period_start: Annotated[
        PeriodBound | None,
        Query(alias="from", description="Interviews asked for at or after this day or time."),
    ] = None,
    period_end: Annotated[
        PeriodBound | None,
        Query(alias="to", description="Interviews asked for up to this day, or before this time."),
    ] = None,
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=insights_service.MAX_GROUPS,
            description=f"At most this many groups, 1 to {insights_service.MAX_GROUPS}.",
        ),
    ] = insights_service.MAX_GROUPS,
    top: Annotated[
        int,
        Query(
            ge=1,
            le=insights_service.MAX_TOP,
            description=f"At most this many top referrers per group, 1 to "
            f"{insights_service.MAX_TOP}.",
        ),
    ] = insights_service.DEFAULT_TOP,
) -> Response:
    """See how your interviews convert step by step and how promptly you thank and report."""
    start, end = _start(period_start), _end(period_end)
    if start is not None and end is not None and start >= end:
        raise Unprocessable(
            "The period is empty: `from` must come before `to`.",
            code="invalid_period",
            errors=[{"loc": ["query", "to"], "msg": "must come after from", "type": "period"}],
        )
    # Put together and written as JSON inside the scan: on SQLite that is its worker thread, so
    # a hundred groups are not built on the event loop (on PostgreSQL the scan runs on the
    # loop between awaited statements, and so does this).
    body = await scan(
        connection,
        _stats_json,
        user.id,
        group_by=group_by,
        start=start,
        end=end,
        limit=limit,
        top=top,
    )
    return Response(body, media_type="application/json")


_STATS: TypeAdapter[Stats] = TypeAdapter(Stats)


def _stats_json(connection: Connection, /, owner_id: uuid.UUID, **options: Any) -> bytes:
    return _STATS.dump_json(insights_service.stats(connection, owner_id, **options))


CareerField = Annotated[
    str,
    Query(
        min_length=1,
        max_length=briefs.MAX_FIELD_LENGTH,
        description="The career field, matched ignoring case.",
    ),
]


class MarkdownResponse(Response):
    """A Markdown answer: the document types its body as a string of ``text/markdown``."""

    media_type = "text/markdown"
    charset = "utf-8"


_BRIEF_DESCRIPTION = (
    "Everything you learned about a career field across its newest "
    f"{briefs.MAX_INTERVIEWS} interviews (`interviews_left_out` counts the older ones): whom "
    "you talked to, their advice, each question with every answer it got, next steps and "
    "decisions. An interview is in the field by its own career field, or else its "
    "interviewee's. A field you have no interview in is a 404 `career_field_not_found`."
)


@router.get(
    "/briefs",
    operation_id="insights-brief",
    response_model=FieldBrief,
    responses=problem_responses(401, 403, 404, 422),
    description=_BRIEF_DESCRIPTION,
)
async def get_brief(
    career_field: CareerField, connection: ConnectionDep, user: CurrentReader, response: Response
) -> FieldBrief:
    """Read what you learned about a career field, as JSON."""
    brief = await scan(connection, briefs.build, user.id, career_field)
    response.headers["Cache-Control"] = "no-store"
    return brief


@router.get(
    "/briefs/markdown",
    operation_id="insights-brief-markdown",
    response_class=MarkdownResponse,
    responses={
        200: {"description": "The brief as Markdown, an attachment (`.md`)."},
        **problem_responses(401, 403, 404, 422),
    },
    description=_BRIEF_DESCRIPTION + " Your words are escaped; dates are in your time zone.",
)
async def get_brief_markdown(
    career_field: CareerField, connection: ConnectionDep, user: CurrentReader
) -> Response:
    """Download what you learned about a career field, as Markdown."""
    brief = await scan(connection, briefs.build, user.id, career_field)
    body = await run_in_threadpool(briefs.to_markdown, brief)
    return MarkdownResponse(
        body,
        headers={
            "Content-Disposition": attachment(briefs.filename(brief, "md")),
            "Cache-Control": "no-store",
        },
    )
