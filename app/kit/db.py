"""The database: engine, sessions, naming convention and the column types every model shares.

SQLite is the embedded default (WAL, foreign keys on, a busy timeout); PostgreSQL runs through
psycopg 3. The schema is only ever made by Alembic, never by ``create_all``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import orjson
import uuid6
from sqlalchemy import JSON, DateTime, Engine, Uuid, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel, create_engine
from sqlmodel.ext.asyncio import session as sqlmodel_async

from app.kit.config import Settings, get_settings
from app.kit.errors import ServiceUnavailable

P = ParamSpec("P")
T = TypeVar("T")

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> uuid.UUID:
    """A time-ordered UUIDv7: opaque on the wire, friendly to B-tree indexes."""
    return uuid.UUID(int=uuid6.uuid7().int)


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no offset, so values are normalised to naive UTC on the way in and tagged
    with UTC on the way out; PostgreSQL uses ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        """On SQLite, text to an aware datetime in one C call rather than three Python ones.

        List pages read hundreds of timestamps; SQLAlchemy's parse, then ``process_result_value``
        adding the zone, cost more than the query. SQLite keeps the naive UTC text this type
        wrote (``YYYY-MM-DD HH:MM:SS.ffffff``), which ``fromisoformat`` reads with the zone
        appended.
        """
        if dialect.name != "sqlite":
            # PostgreSQL's sessions speak UTC (``_postgres_options``): psycopg then hands back
            # datetimes already in UTC, kept as they are.
            def aware(value: datetime | None) -> datetime | None:
                if value is None or value.tzinfo is UTC:
                    return value
                return self.process_result_value(value, dialect)

            return aware
        fromisoformat = datetime.fromisoformat

        def process(value: str | None) -> datetime | None:
            if value is None:
                return None
            try:
                return fromisoformat(value + "+00:00")
            except ValueError:  # not this type's text (an offset, or another format)
                parsed = fromisoformat(value)
                if parsed.tzinfo is None:
                    return parsed.replace(tzinfo=UTC)
                return parsed.astimezone(UTC)

        return process


JSONType = JSON().with_variant(JSONB(), "postgresql")


def read_json(text: str | bytes) -> Any:
    """A JSON column's value, read by orjson (a list page reads one per row).

    Anything orjson refuses that the standard library accepts (``NaN``, an integer beyond 64
    bits) is read by the standard library, so what a column holds reads back the same.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _sqlite_pragmas(lock_timeout_ms: int) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(lock_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # 32 MB of page cache per connection (the default 2 MB): big tables' index pages stay hot.
        cursor.execute("PRAGMA cache_size=-32000")
        cursor.close()

    return on_connect


def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


class WalCheckpointer:
    """Checkpoint an SQLite database's write-ahead log from a background thread.

    By default SQLite checkpoints inside whichever commit pushes the log past 1,000 pages: that
    request copies pages into the database file and waits for the disk, tens of milliseconds
    and sometimes far more. A server instead turns automatic checkpoints off on its own
    connections and runs a passive checkpoint here whenever the log has grown past
    ``min_bytes``; passive checkpoints never wait for readers or writers, and the log is reused
    from its start once everything in it is in the database. Other processes on the same file
    (the CLI, a worker) keep SQLite's automatic checkpoints.
    """

    def __init__(
        self,
        engine: Engine,
        *others: Engine,
        interval: float = 0.25,
        min_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self.engine = engine
        self.engines = (engine, *others)
        self.path = engine.url.database or ""
        self.interval = interval
        self.min_bytes = min_bytes
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        for engine in self.engines:
            event.listen(engine, "connect", _no_autocheckpoint)
            engine.dispose(close=False)  # pooled connections predate the listener
        self._thread = threading.Thread(
            target=self._run, name="sqlite-wal-checkpointer", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for engine in self.engines:
            if event.contains(engine, "connect", _no_autocheckpoint):
                event.remove(engine, "connect", _no_autocheckpoint)

    def checkpoint(self) -> None:
        """One passive checkpoint now (a no-op when another one is running)."""
        with sqlite3.connect(self.path, timeout=0) as connection:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        connection.close()

    def _run(self) -> None:
        wal = f"{self.path}-wal"
        while not self._stop.wait(self.interval):
            try:
                if os.path.getsize(wal) >= self.min_bytes:
                    self.checkpoint()
            except (OSError, sqlite3.Error):
                continue  # no log yet, or busy: next round
        with contextlib.suppress(sqlite3.Error):  # leave the log folded in for the next opener
            self.checkpoint()


def wal_checkpointer(engine: Engine, *others: Engine) -> WalCheckpointer | None:
    """A checkpointer for engines on one SQLite file; None for other databases."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    return WalCheckpointer(engine, *others)


class _SQLiteUuid(Uuid):  # type: ignore[type-arg]
    """``Uuid`` read back from SQLite's 32-digit hex text without ``uuid.UUID``'s parsing.

    ``UUID(hex)`` strips prefixes, braces and dashes before converting; the text this type
    wrote has none of them, and list pages read hundreds of ids. Anything else still goes
    through ``UUID``.
    """

    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        if not self.as_uuid:
            return super().result_processor(dialect, coltype)  # type: ignore[no-untyped-call]
        new, set_attribute = object.__new__, object.__setattr__
        uuid_type, unknown = uuid.UUID, uuid.SafeUUID.unknown

        def process(value: str | None) -> uuid.UUID | None:
            if value is None:
                return None
            if len(value) != 32:
                return uuid_type(value)
            result: uuid.UUID = new(uuid_type)
            set_attribute(result, "int", int(value, 16))  # as UUID.__init__ does
            set_attribute(result, "is_safe", unknown)
            return result

        return process


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    lock_timeout_ms: int = 1000,
    statement_timeout_ms: int = 30_000,
) -> Engine:
    """Build an engine with the settings this project needs for its dialect.

    A statement waits at most ``lock_timeout_ms`` for a lock another transaction holds, and on
    PostgreSQL runs at most ``statement_timeout_ms``; past either, :func:`database_problem`
    turns the error into a 503 the client may retry.
    """
    if url.startswith("sqlite"):
        _make_parent_folder(url)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": lock_timeout_ms / 1000},
            json_deserializer=read_json,
            pool_size=pool_size,
            max_overflow=20,
            # Each SQLite connection has a page cache of its own: handing out the connection
            # returned last keeps requests on the few whose caches are already warm, where a
            # first-in-first-out pool spreads them (and the big tables' pages) over all ten.
            pool_use_lifo=True,
        )
        event.listen(engine, "connect", _sqlite_pragmas(lock_timeout_ms))
        # Types are adapted to the dialect through its colspecs, which may be set per instance.
        engine.dialect.colspecs = {**engine.dialect.colspecs, Uuid: _SQLiteUuid}
        return engine
    return create_engine(
        url,
        json_deserializer=read_json,
        pool_size=pool_size,
        max_overflow=10,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"options": _postgres_options(lock_timeout_ms, statement_timeout_ms)},
    )


def _make_parent_folder(sqlite_url: str) -> None:
    path = sqlite_url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


# The isolation level of a PostgreSQL session's transactions: PostgreSQL's own default, named
# here rather than read from the server (the pool's connections report autocommit).
TRANSACTIONS = "READ COMMITTED"


def _postgres_options(lock_timeout_ms: int, statement_timeout_ms: int) -> str:
    """Server settings for every connection: how long to wait for a lock, and to run; and
    UTC as the session's time zone, whatever the server's default, so that timestamps come
    back in UTC and date arithmetic in SQL never depends on where the server runs."""
    return (
        f"-c lock_timeout={int(lock_timeout_ms)} -c statement_timeout={int(statement_timeout_ms)}"
        " -c timezone=UTC"
    )


def make_async_engine(
    url: str,
    *,
    pool_size: int = 10,
    lock_timeout_ms: int = 1000,
    statement_timeout_ms: int = 30_000,
) -> AsyncEngine:
    """The asynchronous engine requests use on PostgreSQL: psycopg's asyncio connections.

    Its pool, timeouts, pragmas and column types are those of :func:`make_engine`. Code
    written against a blocking ``Session`` or ``Connection`` runs on it through ``run_sync``:
    SQLAlchemy then awaits every statement on the asynchronous driver, so a request waiting
    for the database (or for a lock) never holds up the event loop.
    """
    if url.startswith("sqlite"):
        raise ValueError("SQLite is reached inline (app.kit.database.InlineDatabase), not async")
    # No ping on every checkout (a round trip each time): a connection found dead is answered
    # with a 503 database_unavailable, and SQLAlchemy then replaces every connection of the
    # pool opened before it, so one request pays for a database restart, not all of them.
    # No overflow: connections past the pool's size would be opened for a burst and closed
    # right after it, each costing PostgreSQL a new backend and the request several round
    # trips. A request waits for a pooled connection without holding up the loop; ten
    # connections keep a worker's CPU busy with the database 1 ms away, and a request holds
    # at most one (the idempotency middleware's sessions close before the route runs).
    # Connections open in autocommit: a request's reads and its one-statement units of work
    # need no transaction around them, and a connection that never changes mode costs nothing
    # to check out and in. A session, which does need one, asks for TRANSACTIONS.
    return create_async_engine(
        url,
        isolation_level="AUTOCOMMIT",
        json_deserializer=read_json,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=POOL_TIMEOUT_SECONDS,
        pool_recycle=1800,
        connect_args={"options": _postgres_options(lock_timeout_ms, statement_timeout_ms)},
    )


def engine_for(settings: Settings) -> Engine:
    """A new engine for the settings' database, with their pool size and timeouts."""
    return make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        lock_timeout_ms=settings.db_lock_timeout_ms,
        statement_timeout_ms=settings.db_statement_timeout_ms,
    )


@lru_cache
def _shared_engine(
    url: str, pool_size: int, lock_timeout_ms: int, statement_timeout_ms: int
) -> Engine:
    return make_engine(
        url,
        pool_size=pool_size,
        lock_timeout_ms=lock_timeout_ms,
        statement_timeout_ms=statement_timeout_ms,
    )


def get_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine for the configured database."""
    settings = settings or get_settings()
    return _shared_engine(
        settings.database_url,
        settings.db_pool_size,
        settings.db_lock_timeout_ms,
        settings.db_statement_timeout_ms,
    )


class AsyncSession(sqlmodel_async.AsyncSession):
    """An asynchronous session that runs code written against a blocking ``Session``.

    ``await session.run(service.create, owner_id, data)`` calls ``service.create(s, owner_id,
    data)`` with ``s`` this session's blocking face; SQLAlchemy awaits each of its statements
    on the asynchronous driver, so the event loop serves other requests meanwhile.
    """

    async def run(
        self, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn`` with this session's blocking face as its first argument."""
        return await self.run_sync(fn, *args, **kwargs)  # type: ignore[arg-type]


def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """Yield a session that is closed (and rolled back if uncommitted) afterwards."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        yield session


# How long a request waits for a pooled connection before it is answered 503 database_busy.
POOL_TIMEOUT_SECONDS = 10


def pool_exhausted() -> ServiceUnavailable:
    """The 503 for a request that waited :data:`POOL_TIMEOUT_SECONDS` for a connection."""
    return ServiceUnavailable(
        "Every connection to the database is in use; retry in a moment.",
        code="database_busy",
        headers={"Retry-After": "1"},
    )


# SQLSTATEs of waits that ran out, and of transactions the server gave up so another could go
# on: the same request may well succeed a moment later.
_LOCK_STATES = {"55P03", "40P01", "40001"}  # lock_not_available, deadlock, serialization
_TIMEOUT_STATES = {"57014"}  # query_canceled: statement_timeout
_SQLITE_BUSY = ("database is locked", "database table is locked")


def database_problem(exc: DBAPIError) -> ServiceUnavailable | None:
    """The retryable 503 a database error stands for, or None for a real failure.

    A lock wait past the lock timeout (or a deadlock) is ``database_busy``; a statement past
    PostgreSQL's statement timeout is ``database_timeout``; a connection that died under the
    request (the pool replaces it) is ``database_unavailable``. Each says when to retry.
    """
    if exc.connection_invalidated:
        return ServiceUnavailable(
            "The connection to the database was lost; retry the request.",
            code="database_unavailable",
            headers={"Retry-After": "1"},
        )
    state = getattr(exc.orig, "sqlstate", None)
    message = str(exc.orig).lower()
    if state in _LOCK_STATES or (
        isinstance(exc.orig, sqlite3.OperationalError) and message.startswith(_SQLITE_BUSY)
    ):
        return ServiceUnavailable(
            "Another change holds the data this request needs; retry in a moment.",
            code="database_busy",
            headers={"Retry-After": "1"},
        )
    if state in _TIMEOUT_STATES:
        return ServiceUnavailable(
            "The database took too long to answer this request; retry later.",
            code="database_timeout",
            headers={"Retry-After": "5"},
        )
    return None
