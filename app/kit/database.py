"""The database as requests reach it: one interface, a driver chosen for each database.

Routers and dependencies see a :class:`RequestDatabase`: ``connect()`` gives the request's
connection, ``session(bind)`` a session on it, and services written against a plain
``Session`` or ``Connection`` run through ``session.run(fn, ...)`` and
``connection.run_sync(fn, ...)``. Underneath:

- **PostgreSQL** (:class:`AsyncDatabase`): psycopg's asyncio connections through SQLAlchemy's
  asyncio layer. Every statement is awaited: while one request waits for the database (a
  millisecond away, or behind another transaction's lock), the event loop serves the others.
- **SQLite** (:class:`InlineDatabase`): the database is a file in this process, its reads take
  microseconds, and a thread hop per statement would cost more than the statement. Work runs
  inline, on a connection that never waits for a lock: when the write lock is taken, the
  attempt is rolled back and tried again after an ``await asyncio.sleep``, so other requests
  go on meanwhile, until the lock timeout has passed (then ``database_busy``, a 503).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Protocol, Self, TypeVar, cast

import anyio
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import QueuePool
from sqlmodel import Session

from app.kit.config import Settings
from app.kit.db import (
    POOL_TIMEOUT_SECONDS,
    TRANSACTIONS,
    AsyncSession,
    make_async_engine,
    make_engine,
)

P = ParamSpec("P")
T = TypeVar("T")

# Between two tries for SQLite's write lock: short at first, never long.
_FIRST_PAUSE, _LONGEST_PAUSE = 0.002, 0.05


class RequestConnection(Protocol):
    """The request's connection, whichever the driver."""

    @property
    def sync_connection(self) -> Connection | None: ...

    def in_transaction(self) -> bool: ...

    async def run_sync(
        self, fn: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T: ...

    async def rollback(self) -> None: ...

    async def execution_options(self, **options: Any) -> Any: ...

    async def close(self) -> None: ...


class RequestSession(Protocol):
    """A session on the request's connection, whichever the driver."""

    async def run(
        self, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T: ...

    async def get(self, model: type[T], ident: Any) -> T | None: ...

    async def connection(self) -> Any: ...

    async def close(self) -> None: ...

    async def __aenter__(self) -> Any: ...

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> Any: ...


class RequestDatabase(Protocol):
    """Where requests get their connections and sessions."""

    @property
    def sync_engine(self) -> Engine: ...

    async def connect(self) -> RequestConnection: ...

    async def release(self, connection: RequestConnection) -> None: ...

    def session(self, bind: RequestConnection | None = None) -> RequestSession: ...

    async def dispose(self) -> None: ...


class AsyncDatabase:
    """PostgreSQL through psycopg's asyncio connections.

    The engine's connections are in autocommit (see :func:`app.kit.db.make_async_engine`):
    a session that is not bound to a request's connection gets one in a transaction.

    Requests take the pool's connections in turn, first come first served. The pool's own
    queue lets a request that has just arrived take a connection given back while an earlier
    one, already woken for it, has yet to run; that one then goes to the back of the queue, and
    may again. Under 32 connections' load with 10 in the pool, that put the GET's p99 at 2.0 to
    2.7 times its median. So a request waits for its turn here (a fair semaphore of the pool's
    size), and the pool has a connection ready for every request let through.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.transactional = engine.execution_options(isolation_level=TRANSACTIONS)
        self.pool_size = cast(QueuePool, engine.sync_engine.pool).size()  # as many turns
        self._turns: asyncio.Semaphore | None = None
        self._turns_loop: asyncio.AbstractEventLoop | None = None
        self._held: dict[int, asyncio.Semaphore] = {}

    @property
    def sync_engine(self) -> Engine:
        return self.engine.sync_engine

    def _queue(self) -> asyncio.Semaphore:
        """The turns of the running event loop (a semaphore belongs to one loop)."""
        loop = asyncio.get_running_loop()
        if self._turns is None or self._turns_loop is not loop:
            self._turns, self._turns_loop = asyncio.Semaphore(self.pool_size), loop
        return self._turns

    async def connect(self) -> RequestConnection:
        """The request's connection, once its turn has come: after
        :data:`~app.kit.db.POOL_TIMEOUT_SECONDS` of waiting, the pool's own time-out (a 503)."""
        turns = self._queue()
        if turns.locked():  # others are waiting: after them, for a bounded time
            try:
                async with asyncio.timeout(POOL_TIMEOUT_SECONDS):
                    await turns.acquire()
            except TimeoutError as exc:
                raise PoolTimeout(
                    f"no turn for a connection within {POOL_TIMEOUT_SECONDS} s"
                ) from exc
        else:
            await turns.acquire()  # free: returns at once
        try:
            connection: AsyncConnection = await self.engine.connect()
        except BaseException:
            turns.release()
            raise
        self._held[id(connection)] = turns
        return cast(RequestConnection, connection)

    async def release(self, connection: RequestConnection) -> None:
        """Give the request's connection back to the pool, and its turn to the next request."""
        try:
            await connection.close()
        finally:
            turns = self._held.pop(id(connection), None)
            if turns is not None:
                turns.release()

    def session(self, bind: RequestConnection | None = None) -> AsyncSession:
        target = bind or self.transactional
        return AsyncSession(bind=target, expire_on_commit=False)  # type: ignore[arg-type]

    async def dispose(self) -> None:
        await self.engine.dispose()


def _busy(error: OperationalError) -> bool:
    return isinstance(error.orig, sqlite3.OperationalError) and str(error.orig).startswith(
        ("database is locked", "database table is locked")
    )


async def _waiting_out_locks(call: Callable[[], T], rollback: Callable[[], None], wait: float) -> T:
    """``call()``; while SQLite's write lock is taken, roll back and try again, asleep between."""
    deadline = time.monotonic() + wait
    pause = _FIRST_PAUSE
    while True:
        try:
            return call()
        except OperationalError as error:
            left = deadline - time.monotonic()
            if not _busy(error) or left <= 0:
                raise
            rollback()
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, _LONGEST_PAUSE)


class InlineConnection:
    """SQLite: a blocking connection that never waits for a lock, used inline."""

    def __init__(self, connection: Connection, lock_timeout: float) -> None:
        self.connection = connection
        self.lock_timeout = lock_timeout

    @property
    def sync_connection(self) -> Connection:
        return self.connection

    def in_transaction(self) -> bool:
        return self.connection.in_transaction()

    async def run_sync(
        self, fn: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await _waiting_out_locks(
            lambda: fn(self.connection, *args, **kwargs),
            self.connection.rollback,
            self.lock_timeout,
        )

    async def scan(
        self, fn: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """A read that scans many rows (figures, search): run in a worker thread, so the event
        loop serves other requests meanwhile (SQLite lets go of the GIL while it steps). A read
        never waits for the write lock, so there is nothing to sleep off."""
        return await anyio.to_thread.run_sync(lambda: fn(self.connection, *args, **kwargs))

    async def rollback(self) -> None:
        self.connection.rollback()

    async def execution_options(self, **options: Any) -> Self:
        # SQLite's driver begins a transaction only before a write, never around a read: the
        # isolation level the request path toggles for PostgreSQL changes nothing here.
        options.pop("isolation_level", None)
        if options:
            self.connection.execution_options(**options)
        return self

    async def close(self) -> None:
        self.connection.close()


async def scan(
    connection: RequestConnection,
    fn: Callable[Concatenate[Connection, P], T],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """``fn`` on the request's connection, for a read that scans many rows. On PostgreSQL the
    loop already awaits every statement; on SQLite, a file in the process, the read goes to a
    worker thread rather than holding the loop for its whole scan."""
    if isinstance(connection, InlineConnection):
        return await connection.scan(fn, *args, **kwargs)
    return await connection.run_sync(fn, *args, **kwargs)


class InlineSession:
    """SQLite: a blocking session used inline, trying again while the write lock is taken."""

    def __init__(self, session: Session, lock_timeout: float) -> None:
        self.session = session
        self.lock_timeout = lock_timeout

    async def run(
        self, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await _waiting_out_locks(
            lambda: fn(self.session, *args, **kwargs), self.session.rollback, self.lock_timeout
        )

    async def get(self, model: type[T], ident: Any) -> T | None:
        return self.session.get(model, ident)

    async def connection(self) -> InlineConnection:
        return InlineConnection(self.session.connection(), self.lock_timeout)

    async def close(self) -> None:
        self.session.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


class InlineDatabase:
    """SQLite through its own driver, inline; lock waits are slept off, not blocked on."""

    def __init__(self, engine: Engine, lock_timeout: float) -> None:
        self.engine = engine
        self.lock_timeout = lock_timeout

    @property
    def sync_engine(self) -> Engine:
        return self.engine

    async def connect(self) -> InlineConnection:
        return InlineConnection(self.engine.connect(), self.lock_timeout)

    async def release(self, connection: RequestConnection) -> None:
        await connection.close()

    def session(self, bind: RequestConnection | None = None) -> InlineSession:
        target = bind.sync_connection if bind is not None else self.engine
        return InlineSession(Session(bind=target, expire_on_commit=False), self.lock_timeout)

    async def dispose(self) -> None:
        self.engine.dispose()


def request_database(settings: Settings) -> RequestDatabase:
    """The database requests use, for the settings' URL."""
    if settings.database_url.startswith("sqlite"):
        # No busy timeout on these connections: a lock wait is slept off by InlineDatabase.
        engine = make_engine(
            settings.database_url, pool_size=settings.db_pool_size, lock_timeout_ms=0
        )
        return InlineDatabase(engine, settings.db_lock_timeout_ms / 1000)
    return AsyncDatabase(
        make_async_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            lock_timeout_ms=settings.db_lock_timeout_ms,
            statement_timeout_ms=settings.db_statement_timeout_ms,
        )
    )
