"""A create builds no SQL of its own: its unit of work runs statements built once and kept.

Building a statement (a common table expression per insert, each value a bound parameter, the
caller's check) costs more than running it, so the unit of work keeps one statement per shape
of unit — which tables, which columns — and every create of that shape runs the same objects,
with only the parameters changing. Watched here on the engine the requests use, on both
databases, through the HTTP API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from tests.factories import register

CONTACTS = "/api/v1/contacts"
INTERVIEWS = "/api/v1/interviews"


@pytest.fixture
def executed(client: TestClient) -> Iterator[list[Any]]:
    """Every statement object the requests' engine is given to run, in order."""
    engine = client.app.state.db.sync_engine  # type: ignore[attr-defined]
    seen: list[Any] = []

    def record(_connection: Any, statement: Any, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_execute", record)
    yield seen
    event.remove(engine, "before_execute", record)


def _ran(executed: list[Any], call: Callable[[], Any]) -> list[Any]:
    executed.clear()
    response = call()
    assert response.status_code == 201, response.text
    return list(executed)


def _same_statements(
    executed: list[Any], first: Callable[[], Any], second: Callable[[], Any]
) -> None:
    """Both creates succeed and run the very same statement objects, in the same order."""
    ran_first, ran_second = _ran(executed, first), _ran(executed, second)
    assert ran_first and len(ran_first) == len(ran_second)
    assert all(a is b for a, b in zip(ran_first, ran_second, strict=True))


def test_contact_creates_run_the_same_statements(client: TestClient, executed: list[Any]) -> None:
    user = register(client)

    def create(name: str) -> Callable[[], Any]:
        body = {"full_name": name, "email": f"{name.lower()}@example.net", "tags": [name]}
        return lambda: client.post(CONTACTS, json=body, headers=user.headers)

    _same_statements(executed, create("Ann"), create("Bo"))
    # Each create wrote its own values.
    names = {c["full_name"] for c in client.get(CONTACTS, headers=user.headers).json()["data"]}
    assert names == {"Ann", "Bo"}


def test_interview_creates_run_the_same_statements(client: TestClient, executed: list[Any]) -> None:
    user = register(client)
    contact = client.post(CONTACTS, json={"full_name": "Cy"}, headers=user.headers).json()

    def create(mode: str) -> Callable[[], Any]:
        body = {"contact_id": contact["id"], "mode": mode}
        return lambda: client.post(INTERVIEWS, json=body, headers=user.headers)

    _same_statements(executed, create("phone"), create("video"))
    modes = {i["mode"] for i in client.get(INTERVIEWS, headers=user.headers).json()["data"]}
    assert modes == {"phone", "video"}


def test_a_gone_account_writes_nothing(client: TestClient) -> None:
    """The kept guard still checks each request's own caller: once the account is deleted,
    its token's create is a 401 and nothing is written."""
    user = register(client)
    assert client.post(CONTACTS, json={"full_name": "Di"}, headers=user.headers).status_code == 201
    deleted = client.delete("/api/v1/me", headers=user.headers)
    assert deleted.status_code == 204, deleted.text
    refused = client.post(CONTACTS, json={"full_name": "Ed"}, headers=user.headers)
    assert refused.status_code == 401, refused.text
