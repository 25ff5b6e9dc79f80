"""``python -m bench.remote``: Infoview against a plain peer app, with PostgreSQL 1 ms away.

In production the database is on another host. Here a delaying proxy on loopback
(:mod:`bench.proxy`, 0.5 ms each way) stands for that distance. One Infoview worker and one
worker of the peer (:mod:`bench.peer`: FastAPI + SQLModel, sync endpoints in the thread pool,
a session per request) serve the same seeded database through the same proxy, in the same run,
scenario by scenario side by side; then both again on loopback without the proxy, and
Infoview with two workers. wrk loads each with 32 connections.

Scenarios: GET an interview by id; a list page of 50; POST a contact; and Infoview's GET by id
while another client downloads the account export back to back.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import make_url

from bench.__main__ import (
    LUA,
    RESULTS,
    ROOT,
    Result,
    Server,
    _fresh_postgres,
    ensure_wrk,
    free_port,
    machine,
    mark,
    run_wrk,
    token_for,
)
from bench.proxy import DelayProxy
from bench.seed import seed

# Targets: Infoview over the peer, and latency bounds (2-core machines).
REMOTE_TARGETS = {"get": 3.0, "list": 2.0, "post": 2.0}
LOOPBACK_GET = 1.5
GET_P99_MS, EXPORT_P99_MS = 50.0, 100.0


class Peer(Server):
    """The peer app under uvicorn, one worker."""

    def __init__(self, url: str, port: int) -> None:
        self.port = port
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "bench.peer:app", "--port", str(port)),
                *("--workers", "1", "--no-access-log", "--log-level", "warning"),
            ],
            env=dict(os.environ, PEER_DATABASE_URL=url),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.wait_until_up()


@dataclass
class Row:
    scenario: str
    ours: Result
    peer: Result | None

    @property
    def ratio(self) -> float | None:
        return self.ours.rps / self.peer.rps if self.peer and self.peer.rps else None


def _load(
    wrk: str, server: Server, token: str, ids: Path, *, duration: int, connections: int
) -> dict[str, Callable[[str], Result]]:
    """The scenarios, each a function of its name that warms up, then measures."""
    base = server.base

    def run(name: str, url: str, script: str, args: list[str]) -> Result:
        kw = {"duration": duration, "connections": connections}
        run_wrk(wrk, name, url, LUA / script, args, **{**kw, "duration": 1})
        before = server.cpu_seconds()
        result = run_wrk(wrk, name, url, LUA / script, args, **kw)
        if result.requests:
            result.cpu_us = (server.cpu_seconds() - before) / result.requests * 1e6
        return result

    return {
        "get": lambda n: run(n, base, "get_by_id.lua", [token, str(ids), "/api/v1/interviews/"]),
        "list": lambda n: run(n, f"{base}/api/v1/interviews?limit=50", "get.lua", [token]),
        "post": lambda n: run(n, base, "post_contact.lua", [token]),
    }


def _exporting(base: str, token: str, stop: threading.Event) -> threading.Thread:
    """Download the account export back to back until ``stop`` is set."""

    def loop() -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            while not stop.is_set():
                client.get(f"{base}/api/v1/export").raise_for_status()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def measure(
    label: str, url: str, user: tuple[str, str], ids: Path, wrk: str, args: argparse.Namespace
) -> list[Row]:
    email, user_id = user
    load = {"duration": args.duration, "connections": args.connections}
    rows: list[Row] = []
    ours, peer = Server(url, free_port()), Peer(url, free_port())
    try:
        ours_load = _load(wrk, ours, token_for(ours.base, email), ids, **load)
        peer_load = _load(wrk, peer, user_id, ids, **load)
        for key, title in (("get", "GET /interviews/{id}"), ("list", "GET /interviews?limit=50")):
            rows.append(Row(f"{label}: {title}", ours_load[key](title), peer_load[key](title)))
        rows.append(
            Row(f"{label}: POST /contacts", ours_load["post"]("post"), peer_load["post"]("post"))
        )
        stop = threading.Event()
        exporter = _exporting(ours.base, token_for(ours.base, email), stop)
        try:
            title = "GET /interviews/{id} while exports run"
            rows.append(Row(f"{label}: {title}", ours_load["get"](title), None))
        finally:
            stop.set()
            exporter.join(60)
    finally:
        ours.stop()
        peer.stop()
    return rows


def two_workers(
    url: str, user: tuple[str, str], ids: Path, wrk: str, args: argparse.Namespace
) -> Row:
    load = {"duration": args.duration, "connections": args.connections}
    server = Server(url, free_port(), workers=2)
    try:
        token = token_for(server.base, user[0])
        return Row(
            "2 workers: GET /interviews/{id}",
            _load(wrk, server, token, ids, **load)["get"]("get"),
            None,
        )
    finally:
        server.stop()


def _cpu(result: Result) -> str:
    return f"{result.cpu_us:.0f}" if result.cpu_us else ""


def _cpu_ratio(row: Row) -> str:
    o, p = row.ours, row.peer
    return f"{p.cpu_us / o.cpu_us:.2f}x" if p and p.cpu_us and o.cpu_us else ""


def report(rows: list[Row], one_worker_remote: Row, args: argparse.Namespace) -> str:
    lines = [
        f"Machine: {machine()}; one worker each unless said; wrk -t1 -c{args.connections} "
        f"-d{args.duration}s; PostgreSQL 1 ms away = a loopback proxy delaying 0.5 ms each way.",
        "",
        "| scenario | Infoview req/s | p50 ms | p99 ms | max ms | errors | CPU µs/req "
        "| peer req/s | peer p99 ms | peer CPU µs/req | Infoview/peer | CPU, peer/Infoview |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        o, p = row.ours, row.peer
        lines.append(
            f"| {row.scenario} | {o.rps:.0f} | {o.p50_ms:.1f} | {o.p99_ms:.1f} "
            f"| {o.max_ms:.0f} | {o.errors} | {_cpu(o)} | "
            + (
                f"{p.rps:.0f} | {p.p99_ms:.1f} | {_cpu(p)} | {row.ratio:.2f}x | {_cpu_ratio(row)} |"
                if p and row.ratio
                else "| | | | |"
            )
        )
    lines += [
        "",
        "CPU µs/req is the server's own CPU time (user and system, from /proc) over the requests "
        "it answered. Both apps are bound by one core each, so req/s follows it, and so does "
        "the ratio; but the CPU time a VM gives a process drifts from one moment to the next, "
        "which moves req/s (and the ratio, as the two apps are measured one after the other) by "
        "up to ±10 % between runs, while CPU per request barely moves.",
        "",
    ]
    remote = {r.scenario.split(": ", 1)[1]: r for r in rows if r.scenario.startswith("1 ms")}
    loopback = {r.scenario.split(": ", 1)[1]: r for r in rows if r.scenario.startswith("loopback")}
    checks = []
    for key, title in (
        ("get", "GET /interviews/{id}"),
        ("list", "GET /interviews?limit=50"),
        ("post", "POST /contacts"),
    ):
        ratio = remote[title].ratio or 0.0
        checks.append(
            f"1 ms away, {title}: {ratio:.2f}x the peer "
            f"{mark(ratio >= REMOTE_TARGETS[key])} (≥ {REMOTE_TARGETS[key]}x)"
        )
    get = remote["GET /interviews/{id}"].ours
    checks.append(
        f"1 ms away, GET p99 {get.p99_ms:.1f} ms "
        f"{mark(get.p99_ms < GET_P99_MS)} (< {GET_P99_MS:.0f} ms)"
    )
    exporting = remote["GET /interviews/{id} while exports run"].ours
    checks.append(
        f"1 ms away, GET p99 while exports run {exporting.p99_ms:.1f} ms "
        f"{mark(exporting.p99_ms < EXPORT_P99_MS)} (< {EXPORT_P99_MS:.0f} ms)"
    )
    errors = sum(r.ours.errors for r in rows if r.scenario.startswith("1 ms"))
    checks.append(f"1 ms away, time-outs and errors: {errors} {mark(errors == 0)}")
    lget = loopback["GET /interviews/{id}"]
    ratio = lget.ratio or 0.0
    p99_ok = lget.peer is not None and lget.ours.p99_ms < lget.peer.p99_ms
    checks.append(
        f"loopback, GET /interviews/{{id}}: {ratio:.2f}x the peer "
        f"{mark(ratio >= LOOPBACK_GET)} (≥ {LOOPBACK_GET}x), "
        f"p99 below the peer's {mark(p99_ok)}"
    )
    two = rows[-1]
    checks.append(
        f"2 workers vs 1, GET 1 ms away: {two.ours.rps / one_worker_remote.ours.rps:.2f}x"
    )
    lines += [f"- {c}" for c in checks]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.remote", description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario (10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument(
        "--scale", type=float, default=0.01, help="seed scale (0.01: 10,000 interviews)"
    )
    args = parser.parse_args()
    wrk = ensure_wrk()
    pg = os.environ.get(
        "INFOVIEW_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    url = _fresh_postgres(pg, "infoview_bench_remote")
    print("bench: seeding PostgreSQL …", flush=True)
    seeded = seed(url, scale=args.scale)
    user = (seeded.users[0][0], seeded.users[0][1])
    target = make_url(url)
    proxy = DelayProxy((target.host or "127.0.0.1", target.port or 5432))
    remote_url = target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ids = Path(tmp) / "ids.txt"
            ids.write_text("\n".join(seeded.interview_ids[user[1]]) + "\n")
            rows = measure("1 ms away", remote_url, user, ids, wrk, args)
            rows += measure("loopback", url, user, ids, wrk, args)
            rows.append(two_workers(remote_url, user, ids, wrk, args))
    finally:
        proxy.close()
    text = report(rows, rows[0], args)
    print("\n" + text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "remote.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
