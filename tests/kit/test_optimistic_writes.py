"""Every resource resolves a lost compare-and-set race the same way.

Without If-Match the change is applied again on top of the newer version (a few times at
most); with If-Match the caller's version is stale, a 412. One helper does it for all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, create_engine

from app.kit.errors import Conflict, PreconditionFailed
from app.kit.queries import WRITE_ATTEMPTS, LostRace, optimistic_write
from tests.factories import register
from tests.factories_interviews import create_interview


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    with Session(engine) as opened:
        yield opened
    engine.dispose()


def losing(times: int) -> tuple[Callable[[], str], list[int]]:
    """An attempt that loses the race ``times`` times, then wins."""
    calls: list[int] = []

    def attempt() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise LostRace
        return "written"

    return attempt, calls


def test_without_if_match_a_lost_race_is_tried_again(session: Session) -> None:
    attempt, calls = losing(WRITE_ATTEMPTS - 1)
    assert optimistic_write(session, attempt, if_match=None, what="contact") == "written"
    assert len(calls) == WRITE_ATTEMPTS


def test_without_if_match_too_many_lost_races_are_a_409(session: Session) -> None:
    attempt, calls = losing(WRITE_ATTEMPTS)
    with pytest.raises(Conflict) as refused:
        optimistic_write(session, attempt, if_match=None, what="interview")
    assert refused.value.code == "concurrent_update"
    assert "interview" in refused.value.detail
    assert len(calls) == WRITE_ATTEMPTS


def test_with_if_match_a_lost_race_is_a_412_at_once(session: Session) -> None:
    attempt, calls = losing(1)
    with pytest.raises(PreconditionFailed) as refused:
        optimistic_write(session, attempt, if_match='"3"', what="letter")
    assert refused.value.code == "etag_mismatch"
    assert len(calls) == 1


@pytest.mark.parametrize("resource", ["contacts", "interviews"])
def test_concurrent_patches_without_if_match_are_retried_alike(
    client: TestClient, database_url: str, resource: str
) -> None:
    """Contacts and interviews alike (an interview PATCH used to give up at once)."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite runs one writer at a time: no race to lose")
    user = register(client)
    if resource == "contacts":
        created = client.post("/api/v1/contacts", json={"full_name": "Ada"}, headers=user.headers)
        url = f"/api/v1/contacts/{created.json()['id']}"
    else:
        url = f"/api/v1/interviews/{create_interview(client, user)['id']}"

    def patch(n: int) -> int:
        answer = client.patch(url, json={"notes": f"note {n}"}, headers=user.headers)
        return answer.status_code

    writers = 4
    with ThreadPoolExecutor(writers) as pool:
        statuses = list(pool.map(patch, range(writers)))
    # Each lost race is tried again: (nearly) every write lands, each one made a version.
    assert statuses.count(200) + statuses.count(409) == writers, statuses
    landed = statuses.count(200)
    assert landed >= writers - 1, statuses
    final = client.get(url, headers=user.headers)
    assert final.headers["etag"] == f'"{1 + landed}"'
