"""A read that scans many rows leaves the event loop free on SQLite, and is an ordinary awaited
read on PostgreSQL."""

from __future__ import annotations

import asyncio
import threading

from sqlalchemy import Connection, text

from app.kit.config import Settings
from app.kit.database import InlineConnection, request_database, scan


def where_it_ran(connection: Connection) -> tuple[int, int]:
    return threading.get_ident(), connection.execute(text("SELECT 1")).scalar_one()


async def scan_beside_a_tick(settings: Settings) -> tuple[bool, int, int, int]:
    database = request_database(settings)
    connection = await database.connect()
    try:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0)
        ran_in, one = await scan(connection, where_it_ran)
        ticker.cancel()
        inline = isinstance(connection, InlineConnection)
        return inline, ran_in, one, ticks
    finally:
        await connection.close()
        await database.dispose()


def test_a_scan_runs_where_it_leaves_the_loop_free(settings: Settings) -> None:
    loop_thread = threading.get_ident()  # asyncio.run runs the loop in this thread
    inline, ran_in, one, ticks = asyncio.run(scan_beside_a_tick(settings))
    assert one == 1
    if inline:  # SQLite: in a worker thread, while the loop went on ticking
        assert ran_in != loop_thread
        assert ticks >= 2
    else:  # PostgreSQL: on the loop, every statement awaited
        assert ran_in == loop_thread
