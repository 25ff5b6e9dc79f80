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
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Select, Table, Update, exists, func, literal, select

from app.kit.queries import caller_row, owner_table


def caller_exists(table: Table, owner_id: uuid.UUID) -> Select[Any]:
    """A guard that holds while the account owning ``table``'s rows stands for the caller:
    it exists (and its session is not revoked, see :func:`app.kit.queries.caller_row`)."""
    owner = owner_table(table)
    return select(owner.c.id).where(caller_row(owner, owner_id))


@dataclass
class UnitOfWork:
    """A guard and the rows written with it.

    ``guard`` returns a row exactly when the writes may go ahead: a ``SELECT``, or an
    ``UPDATE … RETURNING`` (then the update is itself the first write).
    """

    guard: Select[Any] | Update
    inserts: list[tuple[Table, dict[str, Any]]] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)

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
                held = bool(connection.execute(self._one_statement()).scalar_one())
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

    def _one_statement(self) -> Select[Any]:
        guard = self.guard.cte("guard")
        writes = []
        for step, (table, values) in enumerate(self.inserts):
            names = list(values)
            row = select(*(literal(values[n], table.c[n].type).label(n) for n in names))
            writes.append(
                table.insert().from_select(names, row.select_from(guard)).cte(f"write_{step}")
            )
        for step, statement in enumerate(self.updates):
            held = statement.where(exists(select(guard.c[0])))
            writes.append(held.cte(f"change_{step}"))
        return select(func.count()).select_from(guard).add_cte(*writes)

    def _in_order(self, connection: Connection) -> bool:
        if connection.execute(self.guard).first() is None:
            return False
        for table, values in self.inserts:
            connection.execute(table.insert(), values)
        for statement in self.updates:
            connection.execute(statement)
        return True
