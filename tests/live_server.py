"""A real ``infoview serve`` in a subprocess, for tests that need true concurrency.

``live_server(database_url)`` is a context manager: it starts the server on a free port (two
worker processes by default), waits until ``/healthz`` answers, yields the base URL, and stops
the server afterwards. ``private_postgres_database()`` makes a fresh, migrated PostgreSQL
database for it (from ``INFOVIEW_TEST_POSTGRES_URL``) and drops it afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
from sqlalchemy import create_engine, make_url, text

from app.kit.migrations import upgrade

TEST_SECRET = "live-server-test-secret-key-0123456789-abcdefghij"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _infoview_command() -> list[str]:
    script = Path(sys.executable).parent / "infoview"
    if script.exists():
        return [str(script)]
    found = shutil.which("infoview")
    return [found] if found else [sys.executable, "-m", "app.cli"]


@contextlib.contextmanager
def live_server(
    database_url: str,
    *,
    workers: int = 2,
    timeout: float = 60.0,
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """Serve the app on ``database_url`` (already migrated); yield ``http://127.0.0.1:<port>``."""
    port = free_port()
    var_dir = tempfile.mkdtemp(prefix="infoview-live-")
    log_path = Path(var_dir) / "server.log"
    server_env = {
        **os.environ,
        "INFOVIEW_DATABASE_URL": database_url,
        "INFOVIEW_SECRET_KEY": TEST_SECRET,
        "INFOVIEW_ENV": "test",
        "INFOVIEW_RUN_DISPATCHER": "false",
        "INFOVIEW_VAR_DIR": var_dir,
        "INFOVIEW_LOG_LEVEL": "WARNING",
        "INFOVIEW_RATE_LIMIT_AUTH_PER_MINUTE": "10000",
        "INFOVIEW_RATE_LIMIT_WRITES_PER_MINUTE": "100000",
        **(env or {}),
    }
    command = [
        *_infoview_command(),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    with log_path.open("wb") as log:
        # A session of its own, so the whole server (supervisor and workers) can be stopped.
        process = subprocess.Popen(
            command,
            env=server_env,
            cwd=var_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(process, base_url, timeout, log_path)
        yield base_url
    finally:
        _stop(process)
        shutil.rmtree(var_dir, ignore_errors=True)


def _wait_until_healthy(
    process: subprocess.Popen[bytes], base_url: str, timeout: float, log_path: Path
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"infoview serve exited with {process.returncode}:\n{_tail(log_path)}"
            )
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    _stop(process)
    raise RuntimeError(f"infoview serve did not answer /healthz in {timeout}s:\n{_tail(log_path)}")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM the server's process group, then SIGKILL it if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)


@contextlib.contextmanager
def private_postgres_database(base_url: str) -> Iterator[str]:
    """A new PostgreSQL database next to ``base_url``'s, migrated to head; dropped afterwards."""
    base = make_url(base_url)
    name = f"infoview_live_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
