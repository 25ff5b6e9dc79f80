"""One unit of work: the rows a use case writes, sent together, all or nothing.

A use case reads what it needs and decides; then it describes its writes as a *guard* — the
condition under which anything is written: the caller's account exists, or a compare-and-set
on a row's version still matches — and the rows to insert along with it.
:meth:`UnitOfWork.commit` writes everything or nothing and answers whether the guard held.

- **PostgreSQL**: one statement. The guard is a common table expression (a ``SELECT``, or an
  ``UPDATE … RETURNING``); each insert is a data-modifying one that selects its values
  *from the guard*, so nothing is inserted when the guard finds no row. One statement is
  atomic by itself: no ``BEGIN``, no ``COMMIT``, one round trip for the whole write.
- **SQLite**, a file in the process where a round trip costs nothing: the same steps in order
  in one transaction, rolled back when the guard finds no row.

Every value is a bound parameter. A unit whose guard is built once (:meth:`UnitOfWork.for_caller`:
the caller's account, a statement per table) has its whole statement built once per shape —
which tables, which columns — and kept: a create builds no SQL of its own, as a read doesn't.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import (
    Connection,
    Insert,
    Select,
    Table,
    Update,
    bindparam,
    exists,
    func,
    select,
)

from app.kit.queries import caller_row, owner_table

# The bound parameter naming the caller in the guard of :meth:`UnitOfWork.for_caller`.
_OWNER = "uow_owner"
# Statements kept per shape of unit: the shapes are the code's own (a table and its columns per
# insert), a few dozen at most; the bound keeps a mistake from growing it without end.
_SHAPES_KEPT = 256


@cache
def _caller_guard(table: Table) -> Select[Any]:
    """The guard of :meth:`UnitOfWork.for_caller`, one statement per table."""
    owner = owner_table(table)
    return select(owner.c.id).where(caller_row(owner, bindparam(_OWNER)))


@cache
def _insert(table: Table) -> Insert:
    return table.insert()


def _value(step: int, name: str) -> str:
    """The bound parameter carrying column ``name`` of the ``step``-th insert."""
    return f"w{step}_{name}"


@dataclass
class UnitOfWork:
    """A guard and the rows written with it.

    ``guard`` returns a row exactly when the writes may go ahead: a ``SELECT``, or an
    ``UPDATE … RETURNING`` (then the update is itself the first write). ``params`` are the
    values of the guard's bound parameters, if it has any. ``kept``: the guard is built once
    and kept (:meth:`for_caller`), so the unit's statement may be kept too.
    """

    guard: Select[Any] | Update
    params: dict[str, Any] = field(default_factory=dict)
    inserts: list[tuple[Table, dict[str, Any]]] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    kept: bool = False

    @classmethod
    def for_caller(cls, table: Table, owner_id: uuid.UUID) -> UnitOfWork:
        """A unit that writes while the account owning ``table``'s rows stands for the
        caller: it exists, and its session is not revoked (see
        :func:`app.kit.queries.caller_row`)."""
        return cls(_caller_guard(table), {_OWNER: owner_id}, kept=True)

    def insert(self, table: Table, values: dict[str, Any]) -> None:
        """Insert ``values`` into ``table`` if the guard holds."""
        self.inserts.append((table, values))

    def update(self, statement: Update) -> None:
        """Run ``statement`` too if the guard holds.

        On PostgreSQL it runs in the same statement, so it sees the database as it was before
        any of this unit's writes: it must not depend on them.
        """
        self.updates.append(statement)

    def commit(self, connection: Connection) -> bool:
        """Write everything, or nothing when the guard finds no row; whether it held.

        Commits the connection's transaction. A constraint the writes break (a unique key)
        raises ``IntegrityError`` with nothing written.
        """
        try:
            if connection.dialect.name == "postgresql":
                held = bool(connection.execute(self._one_statement(), self._values()).scalar_one())
            else:
                held = self._in_order(connection)
        except BaseException:
            connection.rollback()
            raise
        if held:
            connection.commit()
        else:
            connection.rollback()
        return held

    def _shape(self) -> tuple[tuple[Table, tuple[str, ...]], ...]:
        return tuple((table, tuple(values)) for table, values in self.inserts)

    def _values(self) -> dict[str, Any]:
        values = dict(self.params)
        for step, (_table, row) in enumerate(self.inserts):
            for name, value in row.items():
                values[_value(step, name)] = value
        return values

    def _one_statement(self) -> Select[Any]:
        if self.kept and not self.updates:
            return _kept_statement(self.guard, self._shape())
        # A guard or updates built for this unit alone: so is its statement.
        return _statement(self.guard, self._shape(), tuple(self.updates))

    def _in_order(self, connection: Connection) -> bool:
        if connection.execute(self.guard, self.params).first() is None:
            return False
        for table, values in self.inserts:
            connection.execute(_insert(table), values)
        for statement in self.updates:
            connection.execute(statement)
        return True


def _statement(
    guard: Select[Any] | Update,
    shape: tuple[tuple[Table, tuple[str, ...]], ...],
    updates: tuple[Update, ...],
) -> Select[Any]:
    """The unit as one statement: the guard as a CTE, each insert selecting its bound values
    from it, each update conditioned on it; counting the guard's rows."""
    guarded = guard.cte("guard")
    writes = []
    for step, (table, names) in enumerate(shape):
        row = select(*(bindparam(_value(step, n), type_=table.c[n].type).label(n) for n in names))
        writes.append(
            table.insert().from_select(list(names), row.select_from(guarded)).cte(f"write_{step}")
        )
    for step, statement in enumerate(updates):
        held = statement.where(exists(select(guarded.c[0])))
        writes.append(held.cte(f"change_{step}"))
    return select(func.count()).select_from(guarded).add_cte(*writes)


@lru_cache(maxsize=_SHAPES_KEPT)
def _kept_statement(
    guard: Select[Any] | Update, shape: tuple[tuple[Table, tuple[str, ...]], ...]
) -> Select[Any]:
    return _statement(guard, shape, ())
