"""Shapes shared by every resource: list pages, and the timestamps clients send."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, Field
from pydantic_core import PydanticCustomError

T = TypeVar("T")

# The start of an RFC 3339 date-time; pydantic checks the rest, the offset included.
_RFC3339_START = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _rfc3339_only(value: Any) -> Any:
    """An RFC 3339 string (or a datetime, from code); never a number taken as epoch seconds.

    Left alone, pydantic reads ``1700000000`` or ``"0.5"`` as seconds since 1970, which the
    document (``format: date-time``) does not allow: a client that sends one has a bug we
    should name, not a timestamp in 1970.
    """
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _RFC3339_START.match(value):
        return value
    raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-11-25T19:21:16Z")


# The instants a client may send: years 1900 to 2200, in UTC. Far inside what Python, SQLite and
# PostgreSQL can hold, so that converting a value to UTC, or adding the agenda's and the
# calendar's days to it, never overflows: ``0001-01-01T00:00:00+14:00`` parses, but is a year
# before 1 in UTC.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
_RANGE = "between 1900-01-01T00:00:00Z and 2200-12-31T23:59:59Z"


def _in_range(value: datetime) -> datetime:
    """``value`` in UTC, if it lies between :data:`EARLIEST` and :data:`LATEST`.

    The comparison subtracts the offsets without building a datetime, so it cannot overflow
    however far out the value is; only a value found in range is converted.
    """
    if not EARLIEST <= value <= LATEST:
        raise PydanticCustomError("datetime_out_of_range", f"must lie {_RANGE}")
    return value.astimezone(UTC)


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339_only),
    AfterValidator(_in_range),
    Field(description=f"RFC 3339 with an offset, {_RANGE}."),
]
"""A timestamp in a request (body or query): RFC 3339 with an offset, in years 1900 to 2200
(UTC), nothing else. Every date-time a request can carry is one of these."""


class Page(BaseModel, Generic[T]):
    """One page of a list. Pass ``next_cursor`` back as ``cursor`` for the next page."""

    data: list[T]
    has_more: bool
    next_cursor: str | None = None


# Keys a small request body (a login, a refresh token) may carry before it is refused whole:
# refusing each unknown key of a body with ninety thousand of them costs the server a
# fraction of a second, on the event loop and before any authentication.
MAX_SMALL_BODY_KEYS = 16


def few_keys(data: Any) -> Any:
    """A ``mode="before"`` model check: an object with more than :data:`MAX_SMALL_BODY_KEYS`
    keys is one error, not one per key."""
    if isinstance(data, dict) and len(data) > MAX_SMALL_BODY_KEYS:
        raise PydanticCustomError(
            "too_many_keys",
            "At most {limit} keys are accepted here; this object has {count}.",
            {"limit": MAX_SMALL_BODY_KEYS, "count": len(data)},
        )
    return data
