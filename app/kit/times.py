"""Times as people read them: in the reader's IANA time zone, with its abbreviation.

Timestamps are stored and sent in UTC; wherever a person reads one (a letter, a write-up,
an agenda title, a calendar entry) it is shown here, by one rule::

    Tuesday 9 December 2026, 9:30 a.m. EST
    Tuesday 9 December 2026, 3:30 p.m. CET (9:30 a.m. EST my time)

The second form is a letter: written for its reader, with the writer's own time after it
whenever it reads differently. Zones come from the IANA database (``zoneinfo``, with the
``tzdata`` package behind it where the system has none), so daylight saving time and every
zone's rules are the database's, never an offset written here. A zone without a lettered
abbreviation in the database is shown by its offset from UTC (``UTC+5:30``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

DEFAULT_ZONE = "UTC"
MAX_ZONE_LENGTH = 64
# The characters of every IANA zone name (America/Port-au-Prince, Etc/GMT+5): the document
# says so, and anything else is refused before the database of zones is consulted.
ZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+/-]*$"
# Names the zone database lists that are no zone a person lives in: the machine's own
# setting, and the placeholder for "not set yet".
_NOT_ZONES = frozenset({"localtime", "Factory"})

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WRITER_LABEL = "my time"


# --- names ------------------------------------------------------------------------------------


@cache
def _known_zones() -> dict[str, str]:
    """Every zone name, by its lower-case spelling (read once: listing them reads the disk)."""
    return {name.lower(): name for name in available_timezones() - _NOT_ZONES}


def canonical_zone(name: str) -> str | None:
    """The database's spelling of a zone name (``america/new_york`` -> ``America/New_York``),
    or None when it names no zone."""
    if len(name) > MAX_ZONE_LENGTH:
        return None
    return _known_zones().get(name.lower())


def _check_zone(value: str) -> str:
    found = canonical_zone(value)
    if found is None:
        raise PydanticCustomError(
            "time_zone",
            "is not an IANA time zone name; use one such as Europe/Berlin or America/New_York",
        )
    return found


TimeZoneName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_ZONE_LENGTH,
        pattern=ZONE_PATTERN,
        description="An IANA time zone name, such as Europe/Berlin or America/New_York.",
        examples=["America/New_York"],
    ),
    AfterValidator(_check_zone),
]
"""A time zone a client sends: an IANA name, stored as the database spells it."""


@cache
def zone(name: str | None) -> ZoneInfo:
    """The zone of that name; UTC for none, or for a name the zone database no longer has."""
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


# --- moments ----------------------------------------------------------------------------------


def local(moment: datetime, zone_name: str | None) -> datetime:
    """``moment`` on the clocks of that zone (a naive moment is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone(zone_name))


def local_date(moment: datetime, zone_name: str | None) -> date:
    """The calendar date it is in that zone at ``moment``."""
    return local(moment, zone_name).date()


def format_date(value: date) -> str:
    """``9 December 2026``."""
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def format_day(value: date) -> str:
    """``Tuesday 9 December 2026``."""
    return f"{_WEEKDAYS[value.weekday()]} {format_date(value)}"


def abbreviation(moment: datetime) -> str:
    """The zone's abbreviation at that local moment (``EST``, ``CEST``), else its offset."""
    name = moment.tzname() or ""
    if name and name[0] not in "+-":
        return name
    offset = moment.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    hours, minutes = divmod(minutes, 60)
    return f"UTC{sign}{hours}" + (f":{minutes:02d}" if minutes else "")


def _clock(moment: datetime) -> str:
    """``9:30 a.m. EST``."""
    hour = moment.hour % 12 or 12
    half = "a.m." if moment.hour < 12 else "p.m."
    return f"{hour}:{moment.minute:02d} {half} {abbreviation(moment)}"


def format_moment(moment: datetime, zone_name: str | None) -> str:
    """``Tuesday 9 December 2026, 9:30 a.m. EST``: the moment as read in that zone."""
    there = local(moment, zone_name)
    return f"{format_day(there.date())}, {_clock(there)}"


def for_reader(moment: datetime, reader_zone: str | None, writer_zone: str | None = None) -> str:
    """The moment in the reader's zone; then, if the writer's clock reads differently, the
    writer's (``… 3:30 p.m. CET (9:30 a.m. EST my time)``), with its date when that differs
    too."""
    text = format_moment(moment, reader_zone)
    if writer_zone is None:
        return text
    theirs, mine = local(moment, reader_zone), local(moment, writer_zone)
    if _clock(mine) == _clock(theirs) and mine.date() == theirs.date():
        return text
    writer = _clock(mine) if mine.date() == theirs.date() else format_moment(moment, writer_zone)
    return f"{text} ({writer} {WRITER_LABEL})"
