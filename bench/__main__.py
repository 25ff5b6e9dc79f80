"""``make bench``: seed, serve with one worker, load with wrk, print one table.

Every figure is reported next to ``/healthz`` of the same server measured in the same run, so
the ratios say what our code costs, whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.seed import PASSWORD, Seeded, seed

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "lua"
DATA = ROOT / "var" / "bench"
RESULTS = Path(__file__).resolve().parent / "results"

TARGETS = {"b/a": 0.30, "c/a": 0.10, "d/a": 0.12, "e/a": 0.10}


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    requests: int


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

    def __init__(self, url: str, port: int) -> None:
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
        )
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "infoview"),
                "serve",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
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


def measure(
    url: str, seeded: Seeded, wrk: str, *, duration: int, connections: int, workdir: Path
) -> tuple[dict[str, Result], float]:
    server = Server(url, free_port())
    try:
        base = server.base
        email, user_id = seeded.users[0]
        token = token_for(base, email)
        ids_file = workdir / "ids.txt"
        ids_file.write_text("\n".join(seeded.interview_ids[user_id]) + "\n")
        pairs = []
        for mail, uid in seeded.users[:20]:
            tok = token_for(base, mail)
            pairs += [f"{tok} {iid}" for iid in seeded.request_interview_ids[uid][:3000]]
        pairs_file = workdir / "pairs.txt"
        pairs_file.write_text("\n".join(pairs) + "\n")
        scenarios = [
            ("a", "GET /healthz", f"{base}/healthz", None, []),
            (
                "b",
                "GET /api/v1/interviews/{id}",
                base,
                LUA / "get_by_id.lua",
                [token, str(ids_file), "/api/v1/interviews/"],
            ),
            (
                "c",
                "GET /api/v1/interviews?limit=50",
                f"{base}/api/v1/interviews?limit=50",
                LUA / "get.lua",
                [token],
            ),
            ("d", "POST /api/v1/contacts", base, LUA / "post_contact.lua", [token]),
            ("e", "POST …/transitions (cancel)", base, LUA / "transition.lua", [str(pairs_file)]),
            ("f", "GET /api/v1/agenda", f"{base}/api/v1/agenda", LUA / "get.lua", [token]),
        ]
        results: dict[str, Result] = {}
        for key, name, target, script, args in scenarios:
            probe_path = target.replace(base, "") or "/healthz"
            if key == "f":
                probe = httpx.get(
                    f"{base}{probe_path}", headers={"Authorization": f"Bearer {token}"}
                )
                if probe.status_code == 404:
                    print(f"bench: skipping {name} (not implemented)", flush=True)
                    continue
            # A short warm-up, then the measured run.
            run_wrk(wrk, name, target, script, args, duration=1, connections=connections)
            results[key] = run_wrk(
                wrk, name, target, script, args, duration=duration, connections=connections
            )
            print(f"bench: {name}: {results[key].rps:.0f} req/s", flush=True)
        return results, server.peak_rss_mb()
    finally:
        server.stop()


def table(title: str, results: dict[str, Result], rss: float) -> str:
    lines = [
        f"### {title}",
        "",
        "| scenario | req/s | p50 ms | p99 ms | max ms | non-2xx |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, r in results.items():
        lines.append(
            f"| ({key}) {r.name} | {r.rps:.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | "
            f"{r.max_ms:.0f} | {r.errors} |"
        )
    a = results["a"].rps
    lines.append("")
    ratio_bits = []
    for key in "bcdef":
        if key in results:
            target = TARGETS.get(f"{key}/a")
            verdict = "" if target is None else (" ✓" if results[key].rps / a >= target else " ✗")
            ratio_bits.append(f"{key}/a = {results[key].rps / a:.3f}{verdict}")
    lines.append("Ratios: " + ", ".join(ratio_bits))
    lines.append(f"Peak RSS of the server: {rss:.0f} MB" + (" ✓" if rss <= 200 else " ✗"))
    return "\n".join(lines)


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


def database(kind: str, scale: float, pg_url: str | None) -> tuple[str, Seeded]:
    DATA.mkdir(parents=True, exist_ok=True)
    tag = f"{kind}-{scale:g}"
    meta = DATA / f"{tag}.json"
    if kind == "sqlite":
        path = DATA / f"{tag}.db"
        url = f"sqlite:///{path}"
        if meta.exists() and path.exists():
            s = json.loads(meta.read_text())
            return url, Seeded(s["users"], s["interview_ids"], s["request_interview_ids"])
        for p in DATA.glob(f"{tag}.db*"):
            p.unlink()
    else:
        assert pg_url
        from sqlalchemy import create_engine, make_url, text

        base = make_url(pg_url)
        name = f"infoview_bench_{str(scale).replace('.', '_')}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = base.set(database=name).render_as_string(hide_password=False)
    started = time.monotonic()
    print(f"bench: seeding {tag} …", flush=True)
    seeded = seed(url, scale=scale)
    print(f"bench: seeded {tag} in {time.monotonic() - started:.0f} s", flush=True)
    if kind == "sqlite":
        meta.write_text(json.dumps(seeded.__dict__))
    return url, seeded


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1,000,000 interviews")
    args = parser.parse_args()
    wrk = ensure_wrk()
    pg_url = os.environ.get("INFOVIEW_BENCH_POSTGRES_URL")
    report = [
        f"Machine: {machine()}; one server worker; wrk -t1 -c{args.connections} "
        f"-d{args.duration}s on loopback.",
        "",
    ]
    backends = ["sqlite"] + (["postgresql"] if pg_url else [])
    for kind in backends:
        measured = {}
        for scale in (args.scale, args.scale / 10):
            url, seeded = database(kind, scale, pg_url)
            with tempfile.TemporaryDirectory() as tmp:
                measured[scale] = measure(
                    url,
                    seeded,
                    wrk,
                    duration=args.duration,
                    connections=args.connections,
                    workdir=Path(tmp),
                )
        big, small = measured[args.scale], measured[args.scale / 10]
        report.append(table(f"{kind}, {1_000_000 * args.scale:,.0f} interviews", *big))
        report.append("")
        report.append(table(f"{kind}, {100_000 * args.scale:,.0f} interviews", *small))
        report.append("")
        bits = []
        for key in big[0]:
            if key in small[0]:
                ratio = (big[0][key].rps / big[0]["a"].rps) / (
                    small[0][key].rps / small[0]["a"].rps
                )
                bits.append(f"{key}: {ratio:.2f}" + (" ✓" if ratio >= 0.9 else " ✗"))
        report.append(f"Big/small (each normalised by its /healthz): {', '.join(bits)}")
        report.append("")
    text = "\n".join(report)
    print("\n" + text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
