"""Shapes shared by every resource: list pages, and the timestamps clients send."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, BeforeValidator

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


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_only)]
"""A timestamp in a request (body or query): RFC 3339 with an offset, nothing else."""


class Page(BaseModel, Generic[T]):
    """One page of a list. Pass ``next_cursor`` back as ``cursor`` for the next page."""

    data: list[T]
    has_more: bool
    next_cursor: str | None = None
