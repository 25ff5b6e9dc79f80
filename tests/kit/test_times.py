"""The formatting of times for people (``app.kit.times``), and the zone database it relies on.

The expected texts are written out by hand: the rule is read, not recomputed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from app.kit import times

WINTER = datetime(2026, 12, 9, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "text"),
    [
        ("UTC", "Wednesday 9 December 2026, 2:30 p.m. UTC"),
        ("America/New_York", "Wednesday 9 December 2026, 9:30 a.m. EST"),
        ("Europe/Berlin", "Wednesday 9 December 2026, 3:30 p.m. CET"),
        ("Pacific/Auckland", "Thursday 10 December 2026, 3:30 a.m. NZDT"),
        ("Asia/Kolkata", "Wednesday 9 December 2026, 8:00 p.m. IST"),
        # Zones the database gives no lettered abbreviation are shown by their offset.
        ("Asia/Kathmandu", "Wednesday 9 December 2026, 8:15 p.m. UTC+5:45"),
        ("America/Sao_Paulo", "Wednesday 9 December 2026, 11:30 a.m. UTC-3"),
        (None, "Wednesday 9 December 2026, 2:30 p.m. UTC"),
    ],
)
def test_a_moment_as_read_in_a_zone(zone: str | None, text: str) -> None:
    assert times.format_moment(WINTER, zone) == text


def test_noon_and_midnight() -> None:
    assert times.format_moment(datetime(2026, 12, 9, 12, tzinfo=UTC), "UTC").endswith(
        "12:00 p.m. UTC"
    )
    assert times.format_moment(datetime(2026, 12, 9, 0, 5, tzinfo=UTC), "UTC").endswith(
        "12:05 a.m. UTC"
    )


def test_daylight_saving_time_comes_from_the_database() -> None:
    summer = datetime(2026, 7, 14, 14, 30, tzinfo=UTC)
    assert times.for_reader(summer, "Europe/Berlin", "America/New_York") == (
        "Tuesday 14 July 2026, 4:30 p.m. CEST (10:30 a.m. EDT my time)"
    )
    # The night the clocks go back in New York: 1:30 a.m. happens twice.
    assert times.format_moment(datetime(2026, 11, 1, 5, 30, tzinfo=UTC), "America/New_York") == (
        "Sunday 1 November 2026, 1:30 a.m. EDT"
    )
    assert times.format_moment(datetime(2026, 11, 1, 6, 30, tzinfo=UTC), "America/New_York") == (
        "Sunday 1 November 2026, 1:30 a.m. EST"
    )


def test_the_writers_time_only_when_it_reads_differently() -> None:
    assert times.for_reader(WINTER, "Europe/Berlin", "Europe/Paris") == (
        "Wednesday 9 December 2026, 3:30 p.m. CET"
    )
    assert times.for_reader(WINTER, "Europe/Berlin", "America/New_York") == (
        "Wednesday 9 December 2026, 3:30 p.m. CET (9:30 a.m. EST my time)"
    )
    assert times.for_reader(WINTER, "Pacific/Auckland", "America/New_York") == (
        "Thursday 10 December 2026, 3:30 a.m. NZDT "
        "(Wednesday 9 December 2026, 9:30 a.m. EST my time)"
    )


def test_a_stored_zone_the_database_lost_reads_as_utc() -> None:
    assert times.format_moment(WINTER, "Atlantis/Capital") == (
        "Wednesday 9 December 2026, 2:30 p.m. UTC"
    )


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("europe/BERLIN", "Europe/Berlin"),
        ("America/Argentina/ComodRivadavia", "America/Argentina/ComodRivadavia"),
        ("UTC", "UTC"),
        ("Etc/GMT+5", "Etc/GMT+5"),
        ("localtime", None),
        ("Factory", None),
        ("Berlin", None),
        ("CEST", None),
        ("x" * 10_000, None),
    ],
)
def test_names_are_checked_against_the_zone_database(name: str, found: str | None) -> None:
    assert times.canonical_zone(name) == found


def test_every_zone_name_fits_the_documented_pattern_and_length() -> None:
    import re
    from zoneinfo import available_timezones

    pattern = re.compile(times.ZONE_PATTERN)
    for name in available_timezones():
        assert len(name) <= times.MAX_ZONE_LENGTH and pattern.match(name), name


def test_zones_work_without_the_systems_zone_files() -> None:
    """With no system zone directory at all, the tzdata package answers."""
    script = (
        "import zoneinfo\n"
        "assert zoneinfo.TZPATH == (), zoneinfo.TZPATH\n"
        "from app.kit import times\n"
        "assert times.canonical_zone('europe/berlin') == 'Europe/Berlin'\n"
        "from datetime import datetime, UTC\n"
        "print(times.format_moment(datetime(2026, 7, 14, 14, 30, tzinfo=UTC), 'Europe/Berlin'))\n"
    )
    env = {**os.environ, "PYTHONTZPATH": ""}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Tuesday 14 July 2026, 4:30 p.m. CEST"
