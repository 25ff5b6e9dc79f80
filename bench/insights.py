"""``python -m bench.insights``: the figures of a user with 10,000 interviews, on SQLite.

Target: ``GET /api/v1/stats`` answers in under 100 ms median for one user with 10,000
interviews. The database (``var/bench/insights-user.db``, made through the migrations and kept
between runs) holds the agenda benchmark's big user (:func:`bench.seed.seed_agenda_user`:
10,000 interviews over every state, 20,000 contacts, a tenth of them referred, with their
letters), made richer for the figures: every interview's recorded moves (an event per state it
entered), the lead each referred interviewee's interview came from, the referrers' relationships
spread over the vocabulary, and thank-yous sent within or after 24 hours.

One ``infoview serve`` worker; per ``group_by``, 3 warm-up requests then 20 measured, one at a
time over a kept-alive connection; the median and p95 are printed with ✓/✗ against 100 ms.
Then the same figures in this process, :func:`app.insights.service.stats` called directly
(what the request costs without HTTP, authentication and JSON), with the verdict: ✓ when every
``group_by``'s median over HTTP is under 100 ms.

A database seeded by an older checkout is brought to the current schema (the migrations), and
its indexes on the tables the figures read to the ones the code declares, so a changed index
is measured without seeding again.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import inspect, select, text, update

import app.tables  # noqa: F401  (every table in the metadata)
from app.insights import service
from app.insights.schemas import StatsGrouping
from app.interviews import workflow
from app.kit.db import make_engine, new_id
from app.vocabulary import Relationship
from bench.__main__ import DATA, Server, _migrated, free_port, mark, token_for
from bench.seed import _table, checkpoint, seed_agenda_user

TARGET_MS = 100.0
WARMUP = 3
REQUESTS = 20
IN_PROCESS = 10
# The tables the figures read, whose indexes are kept as the code declares them.
READ_TABLES = ("interview", "interview_event", "letter", "referral", "contact")
GROUPINGS = ("none", "mode", "referrer_relationship", "career_field", "referrer")


def _enrich(url: str, owner_id: str, seed_value: int = 13) -> None:
    """Events for every state each interview entered, leads on the interviews, relationships."""
    rng = random.Random(seed_value)
    engine = make_engine(url)
    interviews, events, referrals = (
        _table("interview"),
        _table("interview_event"),
        _table("referral"),
    )
    relationships = [r.value for r in Relationship]
    with engine.begin() as conn:
        leads = {row.referred_id: row.id for row in conn.execute(select(referrals))}
        for lead_id in leads.values():
            conn.execute(
                update(referrals)
                .where(referrals.c.id == lead_id)
                .values(relationship=rng.choice(relationships))
            )
        rows = conn.execute(select(interviews)).all()
        new_events: list[dict[str, Any]] = []
        for row in rows:
            if row.contact_id in leads:
                conn.execute(
                    update(interviews)
                    .where(interviews.c.id == row.id)
                    .values(referral_id=leads[row.contact_id])
                )
            state = workflow.REQUEST
            for target in workflow.ORDER[1:]:
                at = getattr(row, workflow.ENTERED_AT[target])
                if at is None or target not in workflow.ALLOWED[state]:
                    continue
                new_events.append(
                    {
                        "id": new_id(),
                        "interview_id": row.id,
                        "owner_id": row.owner_id,
                        "from_state": state.value,
                        "to_state": target.value,
                        "at": at,
                        "actor": "bench",
                    }
                )
                state = target
        for start in range(0, len(new_events), 5000):
            conn.execute(events.insert(), new_events[start : start + 5000])
        # Some thank-yous late: sent two days after the interview was held.
        conn.execute(
            text(
                "UPDATE letter SET sent_at = datetime(sent_at, '+2 days') "
                "WHERE kind = 'thank_you' AND abs(random()) % 3 = 0"
            )
        )
        conn.execute(text("ANALYZE"))
    engine.dispose()
    print(f"bench: {len(new_events)} events recorded for {owner_id}", flush=True)


def _indexes_as_declared(url: str) -> None:
    """The read tables' indexes as the code declares them: missing ones made, others dropped."""
    engine = make_engine(url)
    changed = False
    with engine.begin() as conn:
        inspector = inspect(conn)
        for name in READ_TABLES:
            table = _table(name)
            declared = {index.name: index for index in table.indexes}
            present = {str(index["name"]) for index in inspector.get_indexes(name)}
            for stale in sorted(present - set(declared)):
                conn.execute(text(f'DROP INDEX "{stale}"'))
                changed = True
            for missing in sorted(set(declared) - present):
                declared[missing].create(conn)
                changed = True
        if changed:
            conn.execute(text("ANALYZE"))
    engine.dispose()
    if changed:
        checkpoint(url)
        print("bench: indexes brought to what the code declares", flush=True)


def database() -> tuple[str, str]:
    """The seeded database's URL and the big user's email (seeded on the first run)."""
    DATA.mkdir(parents=True, exist_ok=True)
    path, meta = DATA / "insights-user.db", DATA / "insights-user.json"
    url = f"sqlite:///{path}"
    if meta.exists() and path.exists():
        _migrated(url)
        _indexes_as_declared(url)
        return url, str(json.loads(meta.read_text())["email"])
    for stale in DATA.glob("insights-user.db*"):
        stale.unlink()
    started = time.monotonic()
    print("bench: seeding the insights user (SQLite) …", flush=True)
    email, user_id = seed_agenda_user(url)
    _enrich(url, user_id)
    checkpoint(url)
    print(f"bench: seeded in {time.monotonic() - started:.0f} s", flush=True)
    meta.write_text(json.dumps({"email": email, "id": user_id}))
    return url, email


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _in_process(url: str, user_id: str) -> dict[str, float]:
    """Per ``group_by``, the median milliseconds of the service function called directly."""
    engine = make_engine(url)
    medians: dict[str, float] = {}
    try:
        with engine.connect() as connection:
            for grouping in GROUPINGS:
                group_by = StatsGrouping(grouping)
                owner = uuid.UUID(user_id)
                service.stats(connection, owner, group_by=group_by)
                times = []
                for _ in range(IN_PROCESS):
                    started = time.perf_counter()
                    service.stats(connection, owner, group_by=group_by)
                    times.append((time.perf_counter() - started) * 1000)
                medians[grouping] = statistics.median(times)
                connection.rollback()
    finally:
        engine.dispose()
    return medians


def main() -> int:
    url, email = database()
    user_id = str(json.loads((DATA / "insights-user.json").read_text())["id"])
    server = Server(url, free_port())
    ok = True
    rows: list[tuple[str, float, float, int]] = []
    try:
        auth = {"Authorization": f"Bearer {token_for(server.base, email)}"}
        with httpx.Client(base_url=server.base, headers=auth, timeout=30) as client:
            for grouping in GROUPINGS:
                params = {"group_by": grouping}
                for _ in range(WARMUP):
                    client.get("/api/v1/stats", params=params).raise_for_status()
                times = []
                for _ in range(REQUESTS):
                    started = time.perf_counter()
                    response = client.get("/api/v1/stats", params=params)
                    times.append((time.perf_counter() - started) * 1000)
                    response.raise_for_status()
                groups = len(response.json()["groups"])
                rows.append((grouping, statistics.median(times), _percentile(times, 0.95), groups))
    finally:
        server.stop()
    direct = _in_process(url, user_id)
    print(
        "\nGET /api/v1/stats, one user with 10,000 interviews "
        f"(target median < {TARGET_MS:.0f} ms over HTTP)"
    )
    print(f"{'group_by':<24}{'median ms':>10}{'p95 ms':>10}{'groups':>8}{'in-process':>12}  target")
    for grouping, median, p95, groups in rows:
        passed = median < TARGET_MS
        ok = ok and passed
        print(
            f"{grouping:<24}{median:>10.1f}{p95:>10.1f}{groups:>8}{direct[grouping]:>12.1f}  "
            f"{mark(passed)}"
        )
    worst = max(median for _, median, _, _ in rows)
    print(
        f"{mark(ok)} {'every' if ok else 'not every'} group_by under {TARGET_MS:.0f} ms median "
        f"over HTTP (slowest {worst:.1f} ms); in-process is service.stats alone, median of "
        f"{IN_PROCESS} calls"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
