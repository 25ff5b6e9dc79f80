"""Helpers every service goes through: owner scoping, keyset pages, optimistic concurrency.

Owner scoping lives here so that no query can forget it: services fetch single rows with
``get_owned`` and start lists from ``owned``. A row that belongs to someone else is simply
not found.

The Core reads (:func:`get_owned_row`, :func:`owned_page_statement`) also prove that the
caller's account still exists, in the same statement: they start from the owner's row (the
table the ``owner_id`` foreign key points at) and outer-join the rows asked for. No owner row
means the account is gone, a 401; an owner row with nothing joined is an honest 404 or an
empty page. A read therefore needs no separate caller check: one round trip, not two.

"The owner's row" means more than the row existing: the owner table may declare, in its
``info[CALLER_CONDITION]``, what else its row must meet to speak for the caller (the accounts
domain: the session the caller signed in with is not revoked). Every caller-checked statement
here adds it (:func:`caller_row`), so a revoked session is a 401 on its very next request,
still in one round trip. The caller's session is a :class:`~contextvars.ContextVar` the
authentication dependency sets (:func:`set_caller_session`), read when a statement runs.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Label,
    Row,
    Select,
    Table,
    and_,
    bindparam,
    literal_column,
    true,
)
from sqlalchemy import select as core_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, SQLModel, select
from sqlmodel.sql.expression import SelectOfScalar

from app.kit.db import utcnow
from app.kit.errors import Conflict, NotFound, PreconditionFailed, Unprocessable, caller_gone

M = TypeVar("M", bound=SQLModel)
T = TypeVar("T")

MAX_LIMIT = 100


def owned(model: type[M], owner_id: uuid.UUID) -> SelectOfScalar[M]:
    """``SELECT model WHERE owner_id = :owner`` — the start of every list query."""
    return select(model).where(model.owner_id == owner_id)  # type: ignore[attr-defined]


def get_owned(
    session: Session, model: type[M], object_id: uuid.UUID, owner_id: uuid.UUID, *, what: str
) -> M:
    """The caller's row with this id, or a 404 (also when it belongs to someone else).

    Read from the owner's row, like :func:`get_owned_row`: a gone account is a 401.
    """
    table: Table = model.__table__  # type: ignore[attr-defined]
    owner = owner_table(table)
    wanted = and_(table.c.id == object_id, table.c.owner_id == owner.c.id)
    found = session.exec(
        select(owner.c.id, model)
        .select_from(owner)
        .outerjoin(model, wanted)
        .where(caller_row(owner, owner_id))
    ).first()
    if found is None:
        raise caller_gone()
    row: M | None = found[1]
    if row is None:
        raise NotFound(
            f"No {what} with id {object_id}.", code=f"{what.replace(' ', '_')}_not_found"
        )
    return row


def connection_of(db: Session | Connection) -> Connection:
    """A read's connection: the one given, or the session's."""
    return db if isinstance(db, Connection) else db.connection()


# The column a caller-checked read adds to prove the account exists: the owner's id, or, in
# this module's own reads, the constant 1 after the record's columns (nothing to convert per
# row, and a row's columns up to it are the record's own).
CALLER = "caller_"
_CALLER_MARK: Label[int] = literal_column("1").label(CALLER)


def owner_table(table: Table) -> Table:
    """The table a row's ``owner_id`` points at: where the caller's account lives."""
    (key,) = table.c.owner_id.foreign_keys
    return key.column.table


# The session the request's caller signed in with; None for a caller without one (a personal
# access token, a command, the webhook dispatcher). A context variable, so each request (each
# task, and the threads and greenlets it runs statements in) sees its own.
_caller_session: ContextVar[uuid.UUID | None] = ContextVar("caller_session", default=None)

# The bound parameter carrying it, and the key of ``Table.info`` under which an owner table
# declares its condition: ``(owner table) -> condition`` (see :func:`caller_row`).
CALLER_SESSION = "caller_session"
CALLER_CONDITION = "caller_condition"


def set_caller_session(session_id: uuid.UUID | None) -> None:
    """Name the session the current request's caller speaks for (None: no session)."""
    _caller_session.set(session_id)


def caller_session() -> BindParameter[Any]:
    """A bound parameter whose value is the caller's session id *when the statement runs*.

    So a statement built once (and prepared) checks each request's own session; a caller may
    still pass :data:`CALLER_SESSION` explicitly among the parameters.
    """
    return bindparam(CALLER_SESSION, callable_=_caller_session.get)


def caller_row(owner: Table, owner_id: Any) -> ColumnElement[bool]:
    """The owner's row stands for the caller: its id is ``owner_id`` (a value or a bound
    parameter), and it meets what the owner table declares in ``info[CALLER_CONDITION]``."""
    declared: Callable[[Table], ColumnElement[bool]] | None = owner.info.get(CALLER_CONDITION)
    matches = owner.c.id == owner_id
    return matches if declared is None else and_(matches, declared(owner))


@cache
def owned_row_statement(table: Table, columns: Sequence[Any] | None = None) -> Select[Any]:
    """The caller-checked read of one of ``table``'s rows, by ``object_id`` and ``owner_id``:
    its ``columns`` (all of them if not given).

    It starts from the owner's row: no row at all means the account is gone; a row whose
    columns of ``table`` are null means no such record of theirs. A repository may join more
    to it (a child row, say) and hand it to :func:`get_owned_row`.
    """
    owner = owner_table(table)
    wanted = and_(table.c.id == bindparam("object_id"), table.c.owner_id == owner.c.id)
    return (
        core_select(*(table.c if columns is None else columns), _CALLER_MARK)
        .select_from(owner.outerjoin(table, wanted))
        .where(caller_row(owner, bindparam("owner_id")))
    )


def get_owned_row(
    db: Session | Connection,
    model: type[SQLModel],
    object_id: uuid.UUID,
    owner_id: uuid.UUID,
    *,
    what: str,
    statement: Select[Any] | None = None,
) -> Row[Any]:
    """Like :func:`get_owned`, without an ORM object: the row (columns by attribute or by
    ``row._mapping[name]``, plus :data:`CALLER`), for reads and for Core writes.

    One prepared Core statement on the session's connection, which also proves the caller's
    account exists (a 401 if not); building, tracking and expiring an ORM object costs several
    times the query itself, and a read needs none of it.
    """
    if statement is None:
        statement = owned_row_statement(model.__table__)  # type: ignore[attr-defined]
    row = (
        connection_of(db).execute(statement, {"object_id": object_id, "owner_id": owner_id}).first()
    )
    if row is None:
        raise caller_gone()
    if row.id is None:
        raise NotFound(
            f"No {what} with id {object_id}.", code=f"{what.replace(' ', '_')}_not_found"
        )
    return row


def new_row(model: type[SQLModel], **values: Any) -> dict[str, Any]:
    """A new row's values: those given, and the model's defaults for the rest."""
    for name, info in model.model_fields.items():
        if name not in values:
            if info.default_factory is not None:
                values[name] = info.default_factory()  # type: ignore[call-arg]
            elif not info.is_required():
                values[name] = info.default
    return values


def insert_row(session: Session, model: type[SQLModel], **values: Any) -> dict[str, Any]:
    """Insert one row through Core in the session's transaction; return its values.

    For creates that hand back what they wrote: no ORM object to build, track and flush.
    Nothing is committed.
    """
    row = new_row(model, **values)
    table: Table = model.__table__  # type: ignore[attr-defined]
    session.connection().execute(table.insert(), row)
    return row


def owned_page_statement(
    table: Table,
    conditions: Sequence[ColumnElement[bool]],
    *,
    after_cursor: bool,
    columns: Sequence[Any] | None = None,
) -> Select[Any]:
    """A keyset page of the owner's rows as one prepared Core statement, newest first: their
    ``columns`` (all but ``owner_id`` if not given: the owner is the caller).

    Everything the request varies is a bound parameter (``:owner``, the filters' own,
    ``:cursor``, ``:cap``), so callers build one statement per combination of filters, keep it,
    and run it with :func:`keyset_rows`; nothing is built or cache-keyed per request.

    The page is a subquery outer-joined to the owner's row, so the same round trip proves the
    caller's account exists: the page is found by its own index range scan, and only its
    rows (at most ``:cap``) are sorted again after the join.
    """
    if columns is None:
        columns = [column for column in table.c if column.name != "owner_id"]
    page = core_select(*columns).where(table.c.owner_id == bindparam("owner"), *conditions)
    if after_cursor:
        page = page.where(table.c.id < bindparam("cursor"))
    rows = page.order_by(table.c.id.desc()).limit(bindparam("cap")).subquery("page")
    owner = owner_table(table)
    return (
        core_select(*rows.c, _CALLER_MARK)
        .select_from(owner.outerjoin(rows, true()))
        .where(caller_row(owner, bindparam("owner")))
        .order_by(rows.c.id.desc())
    )


def keyset_rows(
    db: Session | Connection,
    statement: Select[Any],
    params: dict[str, Any],
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], bool, str | None]:
    """Run an :func:`owned_page_statement`: one page of rows as dicts, newest first.

    ``statement`` must have been built with ``after_cursor=cursor is not None``. No row at all
    means the caller's account is gone: a 401.
    """
    params = {**params, "cap": limit + 1}
    if cursor is not None:
        params["cursor"] = decode_cursor(cursor)
    result = connection_of(db).execute(statement, params)
    # Plain dicts: what pydantic reads and writes fastest (a RowMapping costs it twice the
    # time). The caller's column is the last: zipping the keys before it leaves it out, where
    # slicing each row would cost more than the dict.
    keys = list(result.keys())[:-1]
    found = result.all()
    if not found:
        raise caller_gone()
    at = keys.index("id")  # an owner row with nothing joined: an empty page
    rows = [dict(zip(keys, row, strict=False)) for row in found if row[at] is not None]
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["id"]) if has_more and rows else None
    return rows, has_more, next_cursor


def encode_cursor(last_id: uuid.UUID | str) -> str:
    """An opaque cursor: the last id of the page (a UUID, or its stored text), base64url."""
    if not isinstance(last_id, uuid.UUID):
        last_id = uuid.UUID(last_id)
    return base64.urlsafe_b64encode(last_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    """Read a cursor back; anything malformed is a 422 on the ``cursor`` parameter."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        last_id = uuid.UUID(bytes=raw)
        if encode_cursor(last_id) != cursor:  # one spelling per cursor, as the document says
            raise ValueError(cursor)
        return last_id
    except (ValueError, binascii.Error) as exc:
        raise Unprocessable(
            "The cursor is malformed; pass back a next_cursor exactly as received.",
            code="invalid_cursor",
            errors=[{"loc": ["query", "cursor"], "msg": "malformed cursor", "type": "cursor"}],
        ) from exc


def keyset_page(
    session: Session,
    statement: SelectOfScalar[M],
    id_column: Any,
    *,
    owner_id: uuid.UUID,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[M], bool, str | None]:
    """Run a list query one page at a time, newest first, by the time-ordered UUIDv7 id.

    Keyset, never OFFSET: each page is an index range scan whatever its depth, and cursors
    stay valid while rows are inserted. ``statement`` is an :func:`owned` query with the
    caller's filters (``owner_id``'s rows). The page is outer-joined to the owner's row in the
    same statement, as :func:`owned_page_statement` does, so a gone account is a 401 without
    a round trip of its own.
    """
    if cursor is not None:
        statement = statement.where(id_column < decode_cursor(cursor))
    model = statement.column_descriptions[0]["entity"]
    page = statement.order_by(id_column.desc()).limit(limit + 1).subquery("page")
    owner = owner_table(model.__table__)
    found = session.exec(
        select(owner.c.id, aliased(model, page))
        .select_from(owner)
        .outerjoin(page, true())
        .where(caller_row(owner, owner_id))
        .order_by(page.c.id.desc())
    ).all()
    if not found:
        raise caller_gone()
    rows = [row for _, row in found if row is not None]
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].id) if has_more and rows else None
    return rows, has_more, next_cursor


def etag(version: int) -> str:
    """The strong ETag of a row at a version."""
    return f'"{version}"'


def check_if_match(if_match: str | None, version: int) -> None:
    """Honour ``If-Match``: absent goes ahead; a stale tag is a 412."""
    if if_match is None:
        return
    tags = [t.strip() for t in if_match.split(",")]
    if "*" in tags or etag(version) in tags:
        return
    raise PreconditionFailed(
        f"The resource has changed (current ETag {etag(version)}); fetch it again and retry.",
        code="etag_mismatch",
    )


# How often a write without If-Match is tried again when other writers keep getting in first.
WRITE_ATTEMPTS = 3


class LostRace(Exception):
    """Another writer changed the row between our read and our compare-and-set write."""


def compare_and_set(
    session: Session,
    model: type[SQLModel],
    row_id: uuid.UUID,
    version: int,
    *conditions: ColumnElement[bool],
    **values: Any,
) -> None:
    """Write ``values`` and the next version, only if the row is still at ``version`` (and
    meets ``conditions``); otherwise nothing is written and :class:`LostRace` is raised.

    ``updated_at`` is set to now unless ``values`` say otherwise. Nothing is committed.
    """
    table: Table = model.__table__  # type: ignore[attr-defined]
    if "updated_at" in table.c and "updated_at" not in values:
        values["updated_at"] = utcnow()
    result = session.execute(
        table.update()
        .where(table.c.id == row_id, table.c.version == version, *conditions)
        .values(**values, version=version + 1)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LostRace


def compare_and_delete(
    session: Session,
    model: type[SQLModel],
    row_id: uuid.UUID,
    version: int,
    *conditions: ColumnElement[bool],
) -> None:
    """Delete the row only if it is still at ``version``; otherwise :class:`LostRace`."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    result = session.execute(
        table.delete().where(table.c.id == row_id, table.c.version == version, *conditions)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LostRace


def optimistic_write(
    session: Session, attempt: Callable[[], T], *, if_match: str | None, what: str
) -> T:
    """Run one write under optimistic concurrency, the same way for every resource.

    ``attempt`` reads the row, checks ``If-Match`` (:func:`check_if_match`), writes with
    :func:`compare_and_set` or :func:`compare_and_delete`, and commits. When another writer got
    in between, the transaction is rolled back and: with ``If-Match``, the caller's version is
    stale, a 412 ``etag_mismatch``; without it, the change is applied again on top of the new
    version, up to :data:`WRITE_ATTEMPTS` times, then a 409 ``concurrent_update``.
    """
    for _ in range(WRITE_ATTEMPTS):
        try:
            return attempt()
        except LostRace:
            session.rollback()
            if if_match is not None:
                raise PreconditionFailed(
                    f"The {what} changed while this request ran; fetch it again and retry.",
                    code="etag_mismatch",
                ) from None
    raise Conflict(
        f"The {what} kept changing while this request ran; retry.", code="concurrent_update"
    )


def require_owned_ref(
    session: Session, model: type[M], object_id: uuid.UUID, owner_id: uuid.UUID, *, field: str
) -> M:
    """A row a request body points at (``contact_id``, ``referrer_id`` …), owned by the caller.

    A reference to a missing row, or to another user's row, is a 422 on that body field: the
    request is malformed, and the answer does not tell whether the row exists elsewhere.
    """
    row = session.get(model, object_id)
    if row is None or row.owner_id != owner_id:  # type: ignore[attr-defined]
        raise not_referenced(field)
    return row


def not_referenced(field: str) -> Unprocessable:
    """The 422 for a request body field naming no record of the caller's."""
    return Unprocessable(
        f"{field} does not name one of your records.",
        code="invalid_reference",
        errors=[{"loc": ["body", field], "msg": "no such record", "type": "invalid_reference"}],
    )
