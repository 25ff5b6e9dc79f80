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

from collections.abc import Callable
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


# Each expression's SQL per dialect, its arguments numbered in order.
_SQL: dict[tuple[type[FunctionElement[Any]], str], str] = {
    (DaysAfter, "sqlite"): "(julianday({0}) + {1})",
    (DaysAfter, "postgresql"): "({0} + make_interval(days => {1}))",
    (Before, "sqlite"): "{0} < julianday({1})",
    (Before, "postgresql"): "{0} < {1}",
    (DaysBetween, "sqlite"): "(julianday({1}) - julianday({0}))",
    (DaysBetween, "postgresql"): "(EXTRACT(EPOCH FROM ({1} - {0})) / 86400.0)",
    (MillisecondsBetween, "sqlite"): (
        "CAST(round((julianday({1}) - julianday({0})) * 86400000.0) AS INTEGER)"
    ),
    (MillisecondsBetween, "postgresql"): (
        "CAST(round(EXTRACT(EPOCH FROM ({1} - {0})) * 1000) AS BIGINT)"
    ),
    (JoinedText, "sqlite"): "group_concat({0}, ',')",
    (JoinedText, "postgresql"): "string_agg(CAST({0} AS TEXT), ',')",
}


def _compiler(template: str) -> Callable[..., str]:
    def compile_(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
        return template.format(*(compiler.process(c, **kw) for c in element.clauses))

    return compile_


for (_element, _dialect), _template in _SQL.items():
    compiles(_element, _dialect)(_compiler(_template))
