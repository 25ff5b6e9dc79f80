"""On PostgreSQL, requests take the pool's connections in turn, first come first served: one
that arrives as a connection is given back waits behind those already waiting, a turn is
always given back, and a request that gets no turn in time is the pool's 503."""

from __future__ import annotations

import asyncio
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.kit import database as request_database
from app.kit.config import Settings
from app.kit.database import AsyncDatabase
from app.kit.db import make_async_engine
from app.main import create_app
from tests.factories import register


@pytest.fixture
def postgres_url(database_url: str) -> str:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite's connections are in the process: there is no pool to wait for")
    return database_url


def _one_connection(url: str) -> AsyncDatabase:
    return AsyncDatabase(make_async_engine(url, pool_size=1))


def test_requests_are_served_in_the_order_they_asked(postgres_url: str) -> None:
    """Sixty requests arriving while two connections go round are served in the order they
    asked. The pool alone served 44 or 45 of them out of order in three tries: one arriving as
    a connection came back took it ahead of the one already woken for it."""

    async def scenario() -> tuple[list[int], list[int]]:
        database = AsyncDatabase(make_async_engine(postgres_url, pool_size=2))
        asked: list[int] = []
        served: list[int] = []

        async def request(number: int) -> None:
            asked.append(number)
            connection = await database.connect()
            served.append(number)
            await asyncio.sleep(0.002)
            await database.release(connection)

        try:
            # Both connections opened first: opening one takes as long as it takes, so two
            # requests let through together would otherwise be served in either order.
            opened = [await database.connect() for _ in range(2)]
            for connection in opened:
                await database.release(connection)
            requests = []
            for number in range(60):
                requests.append(asyncio.create_task(request(number)))
                await asyncio.sleep(0.0005 if number % 3 else 0)
            await asyncio.gather(*requests)
        finally:
            await database.dispose()
        return asked, served

    asked, served = asyncio.run(scenario())
    assert served == asked


def test_no_turn_in_time_is_the_pools_timeout_and_costs_no_turn(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(request_database, "POOL_TIMEOUT_SECONDS", 0.2)

    async def scenario() -> float:
        database = _one_connection(postgres_url)
        try:
            held = await database.connect()
            with pytest.raises(PoolTimeout):
                await database.connect()
            await database.release(held)
            # The request that gave up holds nothing: the next one is served at once.
            started = time.monotonic()
            await database.release(await database.connect())
            return time.monotonic() - started
        finally:
            await database.dispose()

    assert asyncio.run(scenario()) < 0.2


def test_every_request_gives_its_turn_back_whatever_it_answered(
    settings: Settings, postgres_url: str
) -> None:
    """With one connection in the pool, one turn lost would hold every later request up for
    the pool's timeout and end it in a 503."""
    application = create_app(settings.model_copy(update={"db_pool_size": 1}))
    with TestClient(application, raise_server_exceptions=False) as client:
        user = register(client)
        missing = "/api/v1/interviews/01a250e7-fa4a-7d1e-9c3f-98410cfd9598"
        answers = [
            client.get("/api/v1/interviews", headers=user.headers).status_code,
            client.get(missing, headers=user.headers).status_code,
            client.get("/api/v1/interviews?cursor=nope", headers=user.headers).status_code,
            client.post("/api/v1/interviews", json={}, headers=user.headers).status_code,
            client.get("/api/v1/interviews", headers={"Authorization": "Bearer x"}).status_code,
        ]
        assert answers == [200, 404, 422, 422, 401]
        started = time.monotonic()
        for _ in range(3):
            assert client.get("/api/v1/interviews", headers=user.headers).status_code == 200
        assert time.monotonic() - started < 5
    application.state.engine.dispose()
