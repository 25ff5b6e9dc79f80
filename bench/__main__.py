"""``make bench``: seed, serve with one worker, load with wrk, print one table per database.

Every figure is reported next to ``/healthz`` of the same server measured in the same run, so
the ratios say what our code costs, whatever else the machine is doing. Every measurement runs
on a fresh copy of the seeded SQLite file (the load writes: it adds contacts and cancels
interviews), so the seeded file stays as seeding left it and each run starts from the same
data. Issue #4's two targets (a big user's agenda, a 10,000-row CSV import) are measured on a
server of their own, against a database holding that one big user.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.seed import (
    AGENDA_USER_CONTACTS,
    AGENDA_USER_INTERVIEWS,
    PASSWORD,
    Seeded,
    checkpoint,
    request_interviews,
    seed,
    seed_agenda_user,
)

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "lua"
DATA = ROOT / "var" / "bench"
RESULTS = Path(__file__).resolve().parent / "results"

TARGETS = {"b/a": 0.30, "c/a": 0.10, "d/a": 0.12}  # e and f have none of their own
MAX_MS = 1000.0  # "no request over 1 s" (the target is on (d); every scenario shows it)
BIG_SMALL = 0.9
PEAK_RSS_MB = 200.0
AGENDA_MEDIAN_MS = 50.0
AGENDA_REQUESTS, AGENDA_WARMUP = 200, 20
CSV_ROWS, CSV_SECONDS = 10_000, 5.0


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    requests: int
    # The server's CPU time (user and system) per request, when the run measured it.
    cpu_us: float | None = None


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench: installing wrk from Debian's packages", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit("bench: wrk is required (apt-get install wrk)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ms(value: str, unit: str) -> float:
    factor = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]
    return float(value) * factor


def parse_wrk(name: str, out: str) -> Result:
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))

    def conv(text: str) -> float:
        m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
        if not m:
            return float("nan")
        return _ms(m.group(1), m.group(2))

    max_match = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors:.*?timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (int(errs.group(1)) if errs else 0)
    return Result(
        name,
        rps,
        conv(lat.get("50", "nan")),
        conv(lat.get("99", "nan")),
        conv(max_match.group(1)) if max_match else float("nan"),
        errors,
        total,
    )


class Server:
    """``infoview serve --workers 1`` in a subprocess, with its peak RSS read from /proc."""

    def __init__(self, url: str, port: int, workers: int = 1) -> None:
        self.port = port
        env = dict(os.environ)
        env.update(
            INFOVIEW_DATABASE_URL=url,
            INFOVIEW_ENV="test",
            INFOVIEW_SECRET_KEY="bench-secret-key-0123456789-0123456789-abcdef",
            INFOVIEW_LOG_LEVEL="WARNING",
            INFOVIEW_RUN_DISPATCHER="false",
            INFOVIEW_RATE_LIMIT_WRITES_PER_MINUTE="100000000",
            INFOVIEW_RATE_LIMIT_AUTH_PER_MINUTE="100000",
            # Tokens are fetched once per server; a long --duration must not outlive them.
            INFOVIEW_ACCESS_TOKEN_MINUTES="1440",
        )
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "infoview"),
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.wait_until_up()

    def wait_until_up(self) -> None:
        """Return once ``/healthz`` answers; stop the process and exit if it never does."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        sys.exit("bench: the server did not start")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        kb = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]
        return kb / 1024

    def cpu_seconds(self) -> float:
        """The CPU time (user and system) the server's processes have used so far."""
        pids = [self.proc.pid]
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        if children.exists():
            pids += [int(pid) for pid in children.read_text().split()]
        ticks = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def restart_peak(self) -> float:
        """The peak RSS so far; from now on the peak counts again from the current RSS
        (Linux's ``clear_refs``). So the logins that fetch the tokens, whose password checks
        hold argon2id's 64 MiB each for a moment, are reported apart from the load."""
        peak = self.peak_rss_mb()
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")
        return peak

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def token_for(base: str, email: str) -> str:
    r = httpx.post(f"{base}/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    r.raise_for_status()
    return str(r.json()["access_token"])


def run_wrk(
    wrk: str,
    name: str,
    url: str,
    script: Path | None,
    args: list[str],
    *,
    duration: int,
    connections: int,
) -> Result:
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if script:
        cmd += ["-s", str(script)]
    cmd.append(url)
    if args:
        cmd += ["--", *args]
    env = dict(os.environ, BENCH_LUA_DIR=str(LUA))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    return parse_wrk(name, out)


def mark(ok: bool) -> str:
    return "✓" if ok else "✗"


# --- databases ------------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_copies() -> None:
    """Delete working copies a run that died (its process is gone) left in var/bench/."""
    for path in DATA.glob("*.run-*.db*"):
        found = re.search(r"\.run-(\d+)-", path.name)
        if found and not _pid_alive(int(found.group(1))):
            path.unlink(missing_ok=True)


@contextmanager
def working_copy(url: str) -> Iterator[str]:
    """A throwaway copy of a seeded SQLite database, next to it, deleted afterwards.

    The load writes (new contacts, cancelled interviews), so each measurement gets the data as
    seeding left it. The seeded file is checkpointed when seeded, so a plain copy of the
    ``.db`` is the whole database. A non-empty ``-wal`` beside it means something wrote into it
    since (perhaps still does): then SQLite's online backup copies it instead, a consistent
    snapshot of the file and its log. PostgreSQL databases are seeded afresh for every run, so
    their URL is used as it is.
    """
    if not url.startswith("sqlite"):
        yield url
        return
    seeded = Path(url.removeprefix("sqlite:///"))
    copy = seeded.with_name(f"{seeded.stem}.run-{os.getpid()}-{uuid.uuid4().hex[:8]}.db")
    try:
        wal = Path(f"{seeded}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            source = sqlite3.connect(f"file:{seeded}?mode=ro", uri=True)
            target = sqlite3.connect(copy)
            try:
                source.backup(target)
            finally:
                target.close()
                source.close()
        else:
            shutil.copyfile(seeded, copy)
        # The copy's pages are still being written back to disk; let that finish before
        # measuring, or the big database's runs share the disk (and a core) with the kernel.
        os.sync()
        yield f"sqlite:///{copy}"
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{copy}{suffix}").unlink(missing_ok=True)


def _fresh_postgres(pg_url: str, name: str) -> str:
    """An empty PostgreSQL database called ``name`` (dropped first if it exists)."""
    from sqlalchemy import create_engine, make_url, text

    base = make_url(pg_url)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _changed_since_seeding(path: Path, contacts: int) -> str | None:
    """Why a reused seeded SQLite file no longer looks as seeding left it, if it does not.

    Earlier versions of this harness loaded the seeded file itself; the contacts they added
    stay in it. A cheap count, read without writing to the file.
    """
    # With a log beside it, something may be writing: read through SQLite's locks.
    mode = "mode=ro" if Path(f"{path}-wal").exists() else "immutable=1"
    conn = sqlite3.connect(f"file:{path}?{mode}", uri=True)
    try:
        (found,) = conn.execute("SELECT count(*) FROM contact").fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    if found == contacts:
        return None
    return (
        f"{path.relative_to(ROOT)} holds {found:,} contacts where seeding made {contacts:,}: "
        f"an earlier run wrote into it. Delete {path.relative_to(ROOT).with_suffix('')}.* to "
        "reseed it."
    )


def _migrated(url: str) -> None:
    """Bring a database seeded by an older checkout to the current schema (new indexes)."""
    from app.kit.migrations import upgrade

    upgrade(url)
    checkpoint(url)


def database(kind: str, scale: float, pg_url: str | None) -> tuple[str, Seeded, str | None]:
    """The seeded database of one size, its ids, and a warning if it is no longer pristine."""
    DATA.mkdir(parents=True, exist_ok=True)
    tag = f"{kind}-{scale:g}"
    meta = DATA / f"{tag}.json"
    if kind == "sqlite":
        path = DATA / f"{tag}.db"
        url = f"sqlite:///{path}"
        if meta.exists() and path.exists():
            s = json.loads(meta.read_text())
            _migrated(url)
            warning = _changed_since_seeding(path, round(100_000 * scale))
            return url, Seeded(s["users"], s["interview_ids"], s["request_interview_ids"]), warning
        for p in DATA.glob(f"{tag}.db*"):
            p.unlink()
    else:
        assert pg_url
        url = _fresh_postgres(pg_url, f"infoview_bench_{str(scale).replace('.', '_')}")
    started = time.monotonic()
    print(f"bench: seeding {tag} …", flush=True)
    seeded = seed(url, scale=scale)
    checkpoint(url)
    print(f"bench: seeded {tag} in {time.monotonic() - started:.0f} s", flush=True)
    if kind == "sqlite":
        meta.write_text(json.dumps(seeded.__dict__))
    return url, seeded, None


def agenda_user_database(kind: str, pg_url: str | None) -> tuple[str, tuple[str, str]]:
    """The database holding the one big user, and that user's (email, id)."""
    DATA.mkdir(parents=True, exist_ok=True)
    if kind == "sqlite":
        path, meta = DATA / "agenda-user.db", DATA / "agenda-user.json"
        url = f"sqlite:///{path}"
        if meta.exists() and path.exists():
            s = json.loads(meta.read_text())
            _migrated(url)
            return url, (s["email"], s["id"])
        for p in DATA.glob("agenda-user.db*"):
            p.unlink()
    else:
        assert pg_url
        url = _fresh_postgres(pg_url, "infoview_bench_agenda_user")
    started = time.monotonic()
    print(f"bench: seeding the agenda user ({kind}) …", flush=True)
    email, user_id = seed_agenda_user(url)
    checkpoint(url)
    print(f"bench: seeded the agenda user in {time.monotonic() - started:.0f} s", flush=True)
    if kind == "sqlite":
        meta.write_text(json.dumps({"email": email, "id": user_id}))
    return url, (email, user_id)


# --- the wrk scenarios ----------------------------------------------------------------------


@dataclass
class Measured:
    results: dict[str, Result]
    rss_mb: float
    notes: list[str]
    # Each scenario's yardstick: the mean of the /healthz runs just before and just after it.
    # A shared VM's speed drifts by tens of percent over a minute; a ratio against a yardstick
    # measured seconds apart follows the drift instead of reporting it.
    yardstick: dict[str, float]

    def ratio(self, key: str) -> float:
        return self.results[key].rps / self.yardstick.get(key, self.results["a"].rps)


def measure(
    url: str, seeded: Seeded, wrk: str, *, duration: int, connections: int, workdir: Path
) -> Measured:
    notes: list[str] = []
    # The interviews (e) may cancel: every user's, as the database has them now.
    cancellable = request_interviews(url)
    server = Server(url, free_port())
    try:
        base = server.base
        email, user_id = seeded.users[0]
        token = token_for(base, email)
        ids_file = workdir / "ids.txt"
        ids_file.write_text("\n".join(seeded.interview_ids[user_id]) + "\n")
        pairs = []
        for mail, uid in seeded.users:
            if cancellable.get(uid):
                tok = token_for(base, mail)
                pairs += [f"{tok} {iid}" for iid in cancellable[uid]]
        random.Random(1).shuffle(pairs)
        # The warm-up gets interviews of its own, in proportion to its 1 s: the measured run
        # then only ever finds interviews still in `request`.
        n_warm = max(1, len(pairs) // (duration + 1))
        warm_file, pairs_file = workdir / "pairs-warmup.txt", workdir / "pairs.txt"
        warm_file.write_text("\n".join(pairs[:n_warm]) + "\n")
        pairs_file.write_text("\n".join(pairs[n_warm:]) + "\n")
        n_measured = len(pairs) - n_warm
        login_peak = server.restart_peak()
        notes.append(
            f"Peak RSS while the {len(seeded.users)} users logged in, before the load: "
            f"{login_peak:.0f} MB (argon2id holds 64 MiB for each password check)."
        )
        scenarios = [
            ("a", "GET /healthz", f"{base}/healthz", None, [], None),
            (
                "b",
                "GET /api/v1/interviews/{id}",
                base,
                LUA / "get_by_id.lua",
                [token, str(ids_file), "/api/v1/interviews/"],
                None,
            ),
            (
                "c",
                "GET /api/v1/interviews?limit=50",
                f"{base}/api/v1/interviews?limit=50",
                LUA / "get.lua",
                [token],
                None,
            ),
            ("d", "POST /api/v1/contacts", base, LUA / "post_contact.lua", [token], None),
            (
                "e",
                "POST …/transitions (cancel)",
                base,
                LUA / "transition.lua",
                [str(pairs_file)],
                [str(warm_file)],
            ),
            ("f", "GET /api/v1/agenda", f"{base}/api/v1/agenda", LUA / "get.lua", [token], None),
        ]
        results: dict[str, Result] = {}
        yardstick: dict[str, float] = {}
        healthz = scenarios[0]
        previous_a: float | None = None
        for key, name, target, script, args, warm_args in scenarios:
            if key == "f":
                probe = httpx.get(target, headers={"Authorization": f"Bearer {token}"})
                if probe.status_code == 404:
                    print(f"bench: skipping {name} (not implemented)", flush=True)
                    continue
            # A short warm-up, then the measured run.
            run_wrk(
                wrk,
                name,
                target,
                script,
                warm_args if warm_args is not None else args,
                duration=1,
                connections=connections,
            )
            results[key] = run_wrk(
                wrk, name, target, script, args, duration=duration, connections=connections
            )
            print(f"bench: {name}: {results[key].rps:.0f} req/s", flush=True)
            if key == "a":
                previous_a = results[key].rps
                continue
            after = run_wrk(
                wrk, healthz[1], healthz[2], None, [], duration=duration, connections=connections
            )
            assert previous_a is not None
            yardstick[key] = (previous_a + after.rps) / 2
            previous_a = after.rps
        if "e" in results:
            users = sum(1 for _, uid in seeded.users if cancellable.get(uid))
            notes.append(
                f"(e) drew on the `request` interviews of {users} users: {n_measured:,} for the "
                f"measured run, {n_warm:,} others for the warm-up."
            )
            if results["e"].requests > n_measured:
                notes.append(
                    f"(e) ✗ RAN OUT: {results['e'].requests:,} requests for {n_measured:,} "
                    "interviews in `request`; the rest re-cancelled cancelled interviews (409). "
                    "Use a shorter --duration or a bigger --scale."
                )
        return Measured(results, server.peak_rss_mb(), notes, yardstick)
    finally:
        server.stop()


def table(title: str, m: Measured, warning: str | None) -> str:
    results = m.results
    lines = [f"### {title}", ""]
    if warning:
        lines += [f"Note: {warning}", ""]
    lines += [
        "| scenario | req/s | p50 ms | p99 ms | max ms | max < 1 s | non-2xx |",
        "| --- | ---: | ---: | ---: | ---: | :---: | ---: |",
    ]
    for key, r in results.items():
        lines.append(
            f"| ({key}) {r.name} | {r.rps:.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | "
            f"{r.max_ms:.0f} | {mark(r.max_ms < MAX_MS)} | {r.errors} |"
        )
    lines.append("")
    if m.yardstick:
        lines.append(
            "/healthz, measured again after each scenario: "
            + ", ".join(f"{k} {v:.0f}" for k, v in m.yardstick.items())
            + " req/s (mean of the runs before and after each)"
        )
    ratio_bits = []
    for key in "bcdef":
        if key in results:
            target = TARGETS.get(f"{key}/a")
            ratio = m.ratio(key)
            verdict = "" if target is None else f" {mark(ratio >= target)} (≥ {target:.2f})"
            ratio_bits.append(f"{key}/a = {ratio:.3f}{verdict}")
    lines.append("Ratios: " + ", ".join(ratio_bits))
    if "d" in results:
        d = results["d"]
        lines.append(f"(d) no request over 1 s: max {d.max_ms:.0f} ms {mark(d.max_ms < MAX_MS)}")
    lines.append(
        f"Peak RSS of the server under the load: {m.rss_mb:.0f} MB "
        f"{mark(m.rss_mb <= PEAK_RSS_MB)} "
        f"(≤ {PEAK_RSS_MB:.0f} MB)"
    )
    lines += m.notes
    return "\n".join(lines)


# --- the big user: an agenda, a 10,000-row CSV import -----------------------------------


def contacts_csv(rows: int) -> bytes:
    """A CSV file in the import's documented format: a header row, then one contact a row."""
    import csv
    import io

    fields = ["accounting", "marketing", "web development", "investment banking", "nursing"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "full_name",
            "email",
            "organization",
            "title",
            "career_field",
            "tags",
            "keep_in_touch_days",
        ]
    )
    for i in range(rows):
        writer.writerow(
            [
                f"Imported Contact {i}",
                f"imported{i}@example.net",
                f"Org {i % 997}, Inc." if i % 4 == 0 else f"Org {i % 997}",
                "Analyst" if i % 2 else "Manager",
                fields[i % len(fields)],
                "imported;csv",
                str(90) if i % 10 == 0 else "",
            ]
        )
    return out.getvalue().encode()


@dataclass
class Issue4:
    agenda_median_ms: float
    agenda_p95_ms: float
    agenda_items: int
    agenda_has_more: bool
    csv_seconds: float
    csv_bytes: int
    csv_result: dict[str, object]
    rss_mb: float


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure_issue4(url: str, user: tuple[str, str]) -> Issue4:
    server = Server(url, free_port())
    try:
        base = server.base
        auth = {"Authorization": f"Bearer {token_for(base, user[0])}"}
        # The agenda of the big user: one request at a time, over one kept-alive connection.
        with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
            for _ in range(AGENDA_WARMUP):
                client.get("/api/v1/agenda").raise_for_status()
            times = []
            for _ in range(AGENDA_REQUESTS):
                started = time.perf_counter()
                response = client.get("/api/v1/agenda")
                times.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
            agenda = response.json()
        # The import: a new account, a 10,000-row file, one request.
        email = f"csv-import-{uuid.uuid4().hex[:12]}@example.com"
        httpx.post(
            f"{base}/api/v1/auth/register",
            json={"email": email, "password": PASSWORD, "full_name": "CSV Import"},
        ).raise_for_status()
        headers = {"Authorization": f"Bearer {token_for(base, email)}", "Content-Type": "text/csv"}
        # Warm the import's code path with a dry run of a small file (it writes nothing).
        httpx.post(
            f"{base}/api/v1/contacts/import",
            params={"dry_run": "true"},
            content=contacts_csv(10),
            headers=headers,
            timeout=60,
        ).raise_for_status()
        body = contacts_csv(CSV_ROWS)
        started = time.perf_counter()
        response = httpx.post(
            f"{base}/api/v1/contacts/import", content=body, headers=headers, timeout=600
        )
        seconds = time.perf_counter() - started
        result: dict[str, object] = (
            response.json() if response.headers.get("content-type", "").endswith("json") else {}
        )
        result["status"] = response.status_code
        return Issue4(
            agenda_median_ms=_percentile(times, 0.5),
            agenda_p95_ms=_percentile(times, 0.95),
            agenda_items=len(agenda["data"]),
            agenda_has_more=bool(agenda["has_more"]),
            csv_seconds=seconds,
            csv_bytes=len(body),
            csv_result=result,
            rss_mb=server.peak_rss_mb(),
        )
    finally:
        server.stop()


def issue4_report(kind: str, r: Issue4) -> str:
    backend = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[kind]
    imported = r.csv_result
    ok_import = (
        imported.get("status") == 200
        and imported.get("created") == CSV_ROWS
        and imported.get("error_count") == 0
    )
    outcome = (
        f"{imported.get('created', 0):,} created, {imported.get('updated', 0)} updated, "
        f"{imported.get('error_count', 0)} bad rows"
        if imported.get("status") == 200
        else f"HTTP {imported.get('status')}: {imported.get('detail', imported)}"
    )
    agenda_note = "" if kind == "sqlite" else " (the issue's target is on SQLite)"
    more = ", has_more" if r.agenda_has_more else ""
    return "\n".join(
        [
            f"### Issue #4 targets, {backend}",
            "",
            f'- "A user with {AGENDA_USER_INTERVIEWS:,} interviews and {AGENDA_USER_CONTACTS:,} '
            'contacts gets the agenda (GET /api/v1/agenda) in under 50 ms median on SQLite": '
            f"median {r.agenda_median_ms:.1f} ms, p95 {r.agenda_p95_ms:.1f} ms "
            f"{mark(r.agenda_median_ms < AGENDA_MEDIAN_MS)}{agenda_note} — {AGENDA_REQUESTS} "
            f"sequential requests after {AGENDA_WARMUP} warm-up, {r.agenda_items} items{more}.",
            f'- "Importing {CSV_ROWS:,} CSV contact rows takes under 5 s": '
            f"{r.csv_seconds:.2f} s {mark(r.csv_seconds < CSV_SECONDS and ok_import)} — "
            f"POST /api/v1/contacts/import, {r.csv_bytes / 1024:.0f} KiB text/csv into a new "
            f"account: {outcome} {mark(ok_import)}.",
            f"- Peak RSS of that server: {r.rss_mb:.0f} MB.",
        ]
    )


# --- the run ----------------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    meminfo = Path("/proc/meminfo").read_text()
    mem = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))  # type: ignore[union-attr]
    python = sys.version.split()[0]
    return f"{os.cpu_count()} cores ({cpu}), {mem / 1024 / 1024:.0f} GiB, Python {python}"


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Seed, serve with one worker, load with wrk, and print the tables "
        "(see bench/README.md). Every run works on a copy of the seeded SQLite file.",
    )
    parser.add_argument(
        "--duration",
        type=int,
        default=10,
        help="seconds per measured scenario, after a 1 s warm-up (default 10)",
    )
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="size of the big database: 1.0 = 1,000,000 interviews; the small "
        "one is a tenth of it (default 1.0)",
    )
    parser.add_argument(
        "--only",
        choices=["big", "small"],
        help="measure only the big or only the small database (no big/small ratios); default: both",
    )
    parser.add_argument(
        "--skip-issue4",
        action="store_true",
        help="leave out the big user's agenda and CSV-import measurements",
    )
    args = parser.parse_args()
    wrk = ensure_wrk()
    pg_url = os.environ.get("INFOVIEW_BENCH_POSTGRES_URL")
    DATA.mkdir(parents=True, exist_ok=True)
    remove_stale_copies()
    report = [
        f"Machine: {machine()}; one server worker; wrk -t1 -c{args.connections} "
        f"-d{args.duration}s on loopback.",
        "",
    ]
    scales = {"big": args.scale, "small": args.scale / 10}
    sizes = [args.only] if args.only else ["big", "small"]
    backends = ["sqlite"] + (["postgresql"] if pg_url else [])
    for kind in backends:
        measured: dict[str, Measured] = {}
        for size in sizes:
            scale = scales[size]
            url, seeded, warning = database(kind, scale, pg_url)
            with tempfile.TemporaryDirectory() as tmp, working_copy(url) as copy:
                measured[size] = measure(
                    copy,
                    seeded,
                    wrk,
                    duration=args.duration,
                    connections=args.connections,
                    workdir=Path(tmp),
                )
            report.append(
                table(f"{kind}, {1_000_000 * scale:,.0f} interviews", measured[size], warning)
            )
            report.append("")
        if len(measured) == 2:
            big, small = measured["big"].results, measured["small"].results
            bits = []
            for key in big:
                if key in small:
                    ratio = measured["big"].ratio(key) / measured["small"].ratio(key)
                    bits.append(f"{key}: {ratio:.2f} {mark(ratio >= BIG_SMALL)}")
            report.append(
                f"Big/small (each normalised by its /healthz yardstick; target ≥ {BIG_SMALL}): "
                + ", ".join(bits)
            )
            report.append("")
        if not args.skip_issue4:
            url, user = agenda_user_database(kind, pg_url)
            with working_copy(url) as copy:
                report.append(issue4_report(kind, measure_issue4(copy, user)))
            report.append("")
    text = "\n".join(report)
    print("\n" + text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
