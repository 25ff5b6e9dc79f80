"""SQL that SQLite and PostgreSQL write differently, as expressions compiled for each.

Time arithmetic is the dialect's own: SQLite stores a timestamp as text and counts in Julian
days (``julianday``, exact to the millisecond), PostgreSQL has timestamps and intervals. Where
a fixed delay can be moved onto a bound parameter instead (``sent_at < bound - 7 days``), the
callers do that and need none of these.

- :class:`DaysAfter` — ``timestamp + days`` for an integer column of days; only compared
  (:class:`Before`) and sorted on, never selected: a Julian day number on SQLite, a timestamp
  on PostgreSQL.
- :class:`Before` — ``DaysAfter(...) < instant`` for a bound timestamp.
- :class:`DaysBetween` — ``end - start`` in fractional days.
- :class:`MillisecondsBetween` — ``end - start`` in whole milliseconds, an integer.
- :class:`JoinedText` — an aggregate: the group's non-null values as text, joined by commas.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, Text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class DaysAfter(FunctionElement[Any]):
    """``timestamp + days`` for an integer column of days, in the dialect's own arithmetic."""

    name = "days_after"
    inherit_cache = True


class Before(FunctionElement[bool]):
    """``DaysAfter(...) < instant``, with the instant as a bound timestamp."""

    type = Boolean()
    name = "before"
    inherit_cache = True


class DaysBetween(FunctionElement[float]):
    """``end - start`` in days (fractional): ``DaysBetween(start, end)``."""

    type = Float()
    name = "days_between"
    inherit_cache = True


class MillisecondsBetween(FunctionElement[int]):
    """``end - start`` in whole milliseconds: ``MillisecondsBetween(start, end)``."""

    type = BigInteger()
    name = "milliseconds_between"
    inherit_cache = True


class JoinedText(FunctionElement[str]):
    """An aggregate: the group's non-null values as text, joined by commas, in no set order."""

    type = Text()
    name = "joined_text"
    inherit_cache = True


def _arguments(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(c, **kw) for c in element.clauses]


@compiles(DaysAfter, "sqlite")
def _days_after_sqlite(element: DaysAfter, compiler: SQLCompiler, **kw: Any) -> str:
    timestamp, days = _arguments(element, compiler, **kw)
    return f"(julianday({timestamp}) + {days})"


@compiles(DaysAfter, "postgresql")
def _days_after_postgresql(element: DaysAfter, compiler: SQLCompiler, **kw: Any) -> str:
    timestamp, days = _arguments(element, compiler, **kw)
    return f"({timestamp} + make_interval(days => {days}))"


@compiles(Before, "sqlite")
def _before_sqlite(element: Before, compiler: SQLCompiler, **kw: Any) -> str:
    moment, instant = _arguments(element, compiler, **kw)
    return f"{moment} < julianday({instant})"


@compiles(Before, "postgresql")
def _before_postgresql(element: Before, compiler: SQLCompiler, **kw: Any) -> str:
    moment, instant = _arguments(element, compiler, **kw)
    return f"{moment} < {instant}"


@compiles(DaysBetween, "sqlite")
def _days_between_sqlite(element: DaysBetween, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _arguments(element, compiler, **kw)
    return f"(julianday({end}) - julianday({start}))"


@compiles(DaysBetween, "postgresql")
def _days_between_postgresql(element: DaysBetween, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _arguments(element, compiler, **kw)
    return f"(EXTRACT(EPOCH FROM ({end} - {start})) / 86400.0)"


@compiles(MillisecondsBetween, "sqlite")
def _milliseconds_sqlite(element: MillisecondsBetween, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _arguments(element, compiler, **kw)
    return f"CAST(round((julianday({end}) - julianday({start})) * 86400000.0) AS INTEGER)"


@compiles(MillisecondsBetween, "postgresql")
def _milliseconds_postgresql(element: MillisecondsBetween, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _arguments(element, compiler, **kw)
    return f"CAST(round(EXTRACT(EPOCH FROM ({end} - {start})) * 1000) AS BIGINT)"


@compiles(JoinedText, "sqlite")
def _joined_sqlite(element: JoinedText, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _arguments(element, compiler, **kw)
    return f"group_concat({value}, ',')"


@compiles(JoinedText, "postgresql")
def _joined_postgresql(element: JoinedText, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _arguments(element, compiler, **kw)
    return f"string_agg(CAST({value} AS TEXT), ',')"
