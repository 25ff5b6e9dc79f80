"""Crash safety: ``infoview serve`` killed with SIGKILL in the middle of a stream of writes.

On SQLite and on PostgreSQL: a real server (one worker) on a fresh database takes creates of
contacts, interviews and letters, letter sends, checklist updates and workflow moves from a few
client threads; half a second to two seconds (at random) into the stream it is killed with
SIGKILL. Then:

- the database as the crash left it is sound: on SQLite ``PRAGMA integrity_check`` is ``ok``;
  no interview is left between states, answered or not (its state matches its timestamps and
  its chain of events, it has its checklist, and every change has its outbox event);
- the server starts again on the same database; the writes cut off by the crash that carried an
  ``Idempotency-Key`` are retried with it, as a careful client would: each runs, replays its
  answer, or is refused as unresolved (409, "in progress" or "outcome unknown"), and none runs
  twice;
- every write that got a 2xx answer is there exactly as answered (a move: the interview is in
  the answered state or a later one, with the answered timestamp and the move's event), and
  the invariants above still hold.

The process helpers here (``launch_server``, ``start_server``, ``kill``, ``stop``...) are also
used by ``tests/test_multiprocess.py``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, select

from app.contacts.schemas import Contact
from app.interviews.schemas import Interview, InterviewEvent, PrepChecklist
from app.interviews.workflow import ALLOWED, ENTERED_AT
from app.kit.db import make_engine
from app.kit.migrations import upgrade
from app.letters.schemas import Letter
from app.vocabulary import InterviewState
from app.webhooks.schemas import OutboxEvent
from tests.factories import PASSWORD, assert_problem
from tests.factories_interviews import FULL_CHECKLIST, past
from tests.live_server import free_port, private_postgres_database
from tests.webhook_receiver import process_env

POSTGRES_URL = os.environ.get("INFOVIEW_TEST_POSTGRES_URL")
# A loaded two-core CI machine can take half a minute to start a Python server.
STARTUP_TIMEOUT = 90.0
REQUEST_TIMEOUT = 60.0
LANES = 3


# --- real processes ------------------------------------------------------------------------


@dataclass
class Server:
    """One ``infoview serve`` process (one worker, in its own process group)."""

    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def logged_errors(log: Path) -> list[str]:
    """The lines of a process's JSON log at level error or worse (tracebacks included)."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            level = json.loads(line).get("level")
        except (ValueError, AttributeError):
            level = "error" if "Traceback" in line else None
        if level in ("error", "critical"):
            found.append(line)
    return found


def infoview_command() -> list[str]:
    script = Path(sys.executable).parent / "infoview"
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``infoview <args>`` in a process group of its own, output appended to ``log``.

    It runs in ``log``'s directory, so no ``.env`` of the checkout leaks into its settings.
    """
    with log.open("ab") as out:
        return subprocess.Popen(
            [*infoview_command(), *args],
            env=env,
            cwd=log.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def launch_server(env: dict[str, str], log: Path) -> Server:
    """Start ``infoview serve --workers 1`` on a free port, without waiting for it."""
    port = free_port()
    process = spawn(
        ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"], env, log
    )
    return Server(process, f"http://127.0.0.1:{port}", log)


def start_server(env: dict[str, str], log: Path, *, timeout: float = STARTUP_TIMEOUT) -> Server:
    """Start ``infoview serve --workers 1`` on a free port; return it once /healthz answers."""
    server = launch_server(env, log)
    try:
        wait_healthy(server, timeout)
    except BaseException:
        kill(server.process)
        raise
    return server


def wait_healthy(server: Server, timeout: float = STARTUP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"infoview serve exited with {server.process.returncode}:\n{server.tail()}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.base}/healthz", timeout=5).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"infoview serve did not answer /healthz in {timeout:g} s:\n{server.tail()}")


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process's whole group and reap it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def stop(process: subprocess.Popen[bytes], grace: float = 15.0) -> int:
    """SIGTERM the process's group (a clean stop), SIGKILL it if it lingers; its exit code."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            kill(process)
    return process.returncode


def sign_up(base: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    """Register a new user on ``base`` and log in; the bearer headers."""
    email = f"crash-{uuid.uuid4().hex[:12]}@example.com"
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT, headers=headers or {}) as http:
        r = http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201, r.text
        r = http.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


# --- the stream of writes ------------------------------------------------------------------


class ServerGone(Exception):
    """The server stopped answering (it was killed): this lane is done."""


@dataclass
class Move:
    """An answered workflow move and the interview as the answer showed it."""

    from_state: str
    to_state: str
    answer: dict[str, Any]


@dataclass
class Journal:
    """Every write that got a 2xx answer, with what the answer said."""

    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    interviewees: dict[str, dict[str, Any]] = field(default_factory=dict)
    interviews: dict[str, dict[str, Any]] = field(default_factory=dict)
    moves: dict[str, list[Move]] = field(default_factory=dict)
    checklists: dict[str, dict[str, Any]] = field(default_factory=dict)
    letters: dict[str, dict[str, Any]] = field(default_factory=dict)
    answered: int = 0
    lost: list[Lost] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    first_move: threading.Event = field(default_factory=threading.Event)


@dataclass
class Lost:
    """A write whose answer never came: the server died first. It may or may not have run."""

    method: str
    url: str
    expect: int
    body: dict[str, Any] | None
    key: str | None
    record: Callable[[dict[str, Any]], None]

    def __str__(self) -> str:
        return f"{self.method} {self.url}" + (" (keyed)" if self.key else "")


class Lane:
    """One client thread: interview after interview, each walked some way through the workflow.

    Most POSTs carry an ``Idempotency-Key``, so a write lost to the crash can be retried after
    the restart the way a careful client would.
    """

    _names = itertools.count(1)

    def __init__(self, base: str, headers: dict[str, str], journal: Journal, seed: int) -> None:
        self.base = base
        self.headers = headers
        self.journal = journal
        self.rng = random.Random(seed)
        self.http: httpx.Client | None = None

    def run(self, stop_event: threading.Event) -> None:
        with httpx.Client(
            base_url=self.base, headers=self.headers, timeout=REQUEST_TIMEOUT
        ) as self.http:
            try:
                while not stop_event.is_set():
                    self.one_interview()
            except ServerGone:
                return

    def write(
        self,
        method: str,
        url: str,
        expect: int,
        record: Callable[[dict[str, Any]], None],
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send one write; on a 2xx, ``record`` what the answer said in the journal."""
        assert self.http is not None
        key = f"crash-{uuid.uuid4()}" if method == "POST" and self.rng.random() < 0.7 else None
        try:
            r = self.http.request(
                method, url, json=body, headers={"Idempotency-Key": key} if key else {}
            )
        except httpx.TransportError as exc:
            with self.journal.lock:
                self.journal.lost.append(Lost(method, url, expect, body, key, record))
            raise ServerGone from exc
        if r.status_code != expect:
            with self.journal.lock:
                self.journal.unexpected.append(f"{method} {url} -> {r.status_code}: {r.text}")
            raise ServerGone
        answer: dict[str, Any] = r.json()
        with self.journal.lock:
            record(answer)
            self.journal.answered += 1
            if self.journal.moves:
                self.journal.first_move.set()
        return answer

    def move(self, interview_id: str, from_state: str, to: str, **extra: Any) -> None:
        def record(answer: dict[str, Any]) -> None:
            assert answer["state"] == to, answer
            self.journal.moves.setdefault(interview_id, []).append(Move(from_state, to, answer))

        url = f"/api/v1/interviews/{interview_id}/transitions"
        self.write("POST", url, 200, record, {"to": to, **extra})

    def one_interview(self) -> None:
        journal = self.journal
        n = next(self._names)
        self.write(
            "POST",
            "/api/v1/contacts",
            201,
            lambda c: journal.contacts.__setitem__(c["id"], c),
            {
                "full_name": f"Crash Contact {n}",
                "email": f"contact-{n}@example.com",
                "organization": "Lakeside Audit",
                "notes": f"Met at the alumni evening ({n}).",
                "tags": ["crash", f"batch-{n % 7}"],
            },
        )
        interviewee = self.write(
            "POST",
            "/api/v1/contacts",
            201,
            lambda c: journal.interviewees.__setitem__(c["id"], c),
            {"full_name": f"Interviewee {n}", "organization": "Northwind Partners"},
        )
        interview = self.write(
            "POST",
            "/api/v1/interviews",
            201,
            lambda i: journal.interviews.__setitem__(i["id"], i),
            {
                "contact_id": interviewee["id"],
                "scheduled_at": past(1),
                "career_field": "audit",
                "notes": f"Interview {n}",
            },
        )
        iid = interview["id"]
        if self.rng.random() < 0.15:
            self.move(iid, "request", "cancelled", reason="They are travelling for a month.")
            return
        letter = self.write(
            "POST",
            "/api/v1/letters",
            201,
            lambda x: journal.letters.__setitem__(x["id"], x),
            {
                "kind": "request",
                "recipient_id": interviewee["id"],
                "interview_id": iid,
                "subject": "A conversation about audit",
                "body": "Could I ask you about your work in audit for twenty minutes?",
                "channel": "email",
            },
        )
        self.write(
            "POST",
            f"/api/v1/letters/{letter['id']}/send",
            200,
            lambda x: journal.letters.__setitem__(x["id"], x),
        )
        self.write(
            "PATCH",
            f"/api/v1/interviews/{iid}/checklist",
            200,
            lambda c: journal.checklists.__setitem__(iid, c),
            FULL_CHECKLIST,
        )
        self.move(iid, "request", "prepared")
        roll = self.rng.random()
        if roll < 0.5:
            self.move(iid, "prepared", "held")
        elif roll < 0.75:
            self.move(iid, "prepared", "cancelled", reason="The firm froze its hiring.")


def retry_lost(base: str, headers: dict[str, str], journal: Journal) -> list[str]:
    """Retry every keyed write the crash cut off, with its key, as a client would.

    Each either runs now (it never ran, or its claim was never stored), replays the answer
    it got before the crash, or is refused (its claim was stored but never resolved: "in
    progress" within ``LOCK_TIMEOUT``, "outcome unknown" after it; never run again). A 2xx is
    recorded like any answered write.
    """
    outcomes = []
    with httpx.Client(base_url=base, headers=headers, timeout=REQUEST_TIMEOUT) as http:
        for lost in journal.lost:
            if lost.key is None:
                outcomes.append(f"{lost}: not retried")
                continue
            r = http.request(
                lost.method, lost.url, json=lost.body, headers={"Idempotency-Key": lost.key}
            )
            if r.status_code == lost.expect:
                lost.record(r.json())
                replayed = r.headers.get("idempotent-replayed") == "true"
                outcomes.append(f"{lost}: {'replayed' if replayed else 'ran'}")
            else:
                code = assert_problem(r, 409)["code"]
                assert code in {"idempotency_in_progress", "idempotency_outcome_unknown"}, r.text
                outcomes.append(f"{lost}: unresolved ({code})")
    return outcomes


# --- checks --------------------------------------------------------------------------------


def reachable(state: str) -> set[str]:
    """``state`` and every state the workflow can reach from it."""
    seen = {state}
    todo = [InterviewState(state)]
    while todo:
        for nxt in ALLOWED[todo.pop()]:
            if nxt.value not in seen:
                seen.add(nxt.value)
                todo.append(nxt)
    return seen


_CHANGING_CONTACT_FIELDS = {"last_contacted_at", "updated_at", "version"}
_STATE_FIELDS = {"state", "cancel_reason", "updated_at", "version", *ENTERED_AT.values()}


def check_answered_writes(base: str, headers: dict[str, str], journal: Journal) -> None:
    """Every write that got a 2xx is there, exactly as answered."""
    with httpx.Client(base_url=base, headers=headers, timeout=REQUEST_TIMEOUT) as http:

        def get(url: str) -> dict[str, Any]:
            r = http.get(url)
            assert r.status_code == 200, f"{url}: {r.status_code} {r.text}"
            body: dict[str, Any] = r.json()
            return body

        for cid, answered in journal.contacts.items():
            assert get(f"/api/v1/contacts/{cid}") == answered
        for cid, answered in journal.interviewees.items():
            stored = get(f"/api/v1/contacts/{cid}")
            for name in answered.keys() - _CHANGING_CONTACT_FIELDS:
                assert stored[name] == answered[name], (cid, name)
        for lid, answered in journal.letters.items():
            stored = get(f"/api/v1/letters/{lid}")
            if answered["status"] == "sent" or stored["status"] == "draft":
                assert stored == answered
            else:  # answered as a draft; its send committed but the answer was lost
                assert stored["status"] == "sent" and stored["sent_at"] is not None
        for iid, created in journal.interviews.items():
            stored = get(f"/api/v1/interviews/{iid}")
            for name in created.keys() - _STATE_FIELDS:
                assert stored[name] == created[name], (iid, name)
            moves = journal.moves.get(iid, [])
            answered_state = moves[-1].to_state if moves else "request"
            assert stored["state"] in reachable(answered_state), (iid, stored, answered_state)
            events = get(f"/api/v1/interviews/{iid}/events?limit=100")["data"]
            recorded = [(e["from_state"], e["to_state"]) for e in events]
            for move in moves:
                assert (move.from_state, move.to_state) in recorded, (iid, recorded)
                entered = ENTERED_AT[InterviewState(move.to_state)]
                assert stored[entered] == move.answer[entered], (iid, entered)
            if iid in journal.checklists:
                assert get(f"/api/v1/interviews/{iid}/checklist") == journal.checklists[iid]


def check_no_interview_between_states(database_url: str) -> int:
    """Every interview in the database, answered or not, is whole; returns how many there are."""
    engine = make_engine(database_url, pool_size=1)
    try:
        with Session(engine) as session:
            interviews = session.exec(select(Interview)).all()
            checklists = set(session.exec(select(PrepChecklist.interview_id)).all())
            events: dict[uuid.UUID, list[InterviewEvent]] = {}
            for event in session.exec(
                select(InterviewEvent).order_by(col(InterviewEvent.at), col(InterviewEvent.id))
            ).all():
                events.setdefault(event.interview_id, []).append(event)
            contacts = session.exec(select(Contact.id, Contact.full_name)).all()
            letters = session.exec(select(Letter)).all()
            outbox = [
                (row.type, json.loads(row.payload)["data"])
                for row in session.exec(select(OutboxEvent)).all()
            ]
    finally:
        engine.dispose()

    assert set(events) <= {i.id for i in interviews}
    for interview in interviews:
        where = f"interview {interview.id} ({interview.state})"
        assert interview.id in checklists, f"{where} has no checklist"
        path = ["request"]
        for event in events.get(interview.id, []):
            assert event.from_state == path[-1], f"{where}: events do not chain: {event}"
            assert InterviewState(event.to_state) in ALLOWED[InterviewState(event.from_state)]
            path.append(event.to_state)
            # The state's timestamp and its event were written by one transaction, at one time.
            entered = getattr(interview, ENTERED_AT[InterviewState(event.to_state)])
            assert entered == event.at, f"{where}: {event.to_state} at {entered} != {event.at}"
        assert path[-1] == interview.state, f"{where}: last event leads to {path[-1]}"
        for state, column in ENTERED_AT.items():
            value = getattr(interview, column)
            if state.value in path:
                assert value is not None, f"{where}: {column} is not set"
            else:
                assert value is None, f"{where}: {column} is set but it never was {state}"
        assert bool(interview.cancel_reason) == (interview.state == "cancelled"), where

    # Every change went to the outbox with it, once; no event announces a change that is lost.
    created = Counter(data["id"] for kind, data in outbox if kind == "interview.created")
    assert created == Counter(str(i.id) for i in interviews)
    moved = Counter(
        (data["interview_id"], data["from_state"], data["to_state"])
        for kind, data in outbox
        if kind == "interview.state_changed"
    )
    assert moved == Counter(
        (str(e.interview_id), e.from_state, e.to_state) for es in events.values() for e in es
    )
    assert Counter(data["id"] for kind, data in outbox if kind == "contact.created") == Counter(
        str(cid) for cid, _ in contacts
    )
    # Every contact the lanes wrote has a name of its own: a retried write never ran twice.
    twice = [name for name, n in Counter(name for _, name in contacts).items() if n > 1]
    assert twice == [], twice
    for letter in letters:
        assert (letter.status == "sent") == (letter.sent_at is not None), letter
    assert Counter(data["id"] for kind, data in outbox if kind == "letter.sent") == Counter(
        str(letter.id) for letter in letters if letter.status == "sent"
    )
    return len(interviews)


def check_sqlite_file(path: Path) -> None:
    """Open the file as the killed server left it (WAL and all): it must be sound."""
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        connection.close()


# --- the test ------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A migrated database of ``backend`` for this test alone; PostgreSQL's is dropped after."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'crash.db'}"
        upgrade(url)
        yield url
        return
    if not POSTGRES_URL:
        if os.environ.get("INFOVIEW_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail("INFOVIEW_TEST_REQUIRE_POSTGRES=1 but INFOVIEW_TEST_POSTGRES_URL is unset")
        pytest.skip("PostgreSQL pass skipped: INFOVIEW_TEST_POSTGRES_URL is not set")
    with private_postgres_database(POSTGRES_URL) as url:
        yield url


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_mid_stream_loses_no_answered_write(backend: str, tmp_path: Path) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    print(f"crash-safety seed {seed}")
    with fresh_database(backend, tmp_path) as database_url:
        env = process_env(
            database_url,
            tmp_path,
            INFOVIEW_RUN_DISPATCHER="false",
            INFOVIEW_RATE_LIMIT_AUTH_PER_MINUTE="10000",
            INFOVIEW_RATE_LIMIT_WRITES_PER_MINUTE="1000000",
        )
        journal = Journal()
        server = start_server(env, tmp_path / "serve-1.log")
        stop_streaming = threading.Event()
        lanes: list[threading.Thread] = []
        try:
            headers = sign_up(server.base)
            for i in range(LANES):
                lane = Lane(server.base, headers, journal, seed + i)
                thread = threading.Thread(target=lane.run, args=(stop_streaming,), daemon=True)
                thread.start()
                lanes.append(thread)
            # Streaming is under way once moves are being answered; then a random while more.
            assert journal.first_move.wait(STARTUP_TIMEOUT), (
                f"no move answered: {journal.unexpected or journal.lost}\n{server.tail()}"
            )
            time.sleep(rng.uniform(0.5, 2.0))
            kill(server.process)
        finally:
            stop_streaming.set()
            kill(server.process)
            for thread in lanes:
                thread.join(timeout=REQUEST_TIMEOUT + 10)
        assert server.process.returncode == -signal.SIGKILL
        assert not any(thread.is_alive() for thread in lanes)
        assert journal.unexpected == [], journal.unexpected
        print(
            f"{backend}: killed after {journal.answered} answered writes; "
            f"cut off: {[str(lost) for lost in journal.lost]}"
        )

        # The database as the crash left it.
        if backend == "sqlite":
            check_sqlite_file(tmp_path / "crash.db")
        check_no_interview_between_states(database_url)

        restarted = start_server(env, tmp_path / "serve-2.log")
        try:
            # A claim that survived the crash is never run again, however long the restart took.
            print("retries:", retry_lost(restarted.base, headers, journal))
            check_answered_writes(restarted.base, headers, journal)
            total = check_no_interview_between_states(database_url)
            assert total >= len(journal.interviews)
            # The restarted server takes writes as before.
            with httpx.Client(base_url=restarted.base, headers=headers, timeout=60) as http:
                r = http.post("/api/v1/contacts", json={"full_name": "After the crash"})
                assert r.status_code == 201, r.text
        finally:
            stop(restarted.process)
        assert logged_errors(restarted.log) == []
