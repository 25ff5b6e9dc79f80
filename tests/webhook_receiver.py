"""A real webhook receiver on 127.0.0.1 for the tests, and helpers to run ``infoview`` processes
that must be killed by hand (``tests.live_server`` runs a server that stops cleanly).

``Receiver`` is a threaded ``http.server`` that records every request and verifies its
signature with the reference ``standardwebhooks`` library, as an integrator would. Its
answer is configurable per path (a status code, a redirect, a delay, a body — hostile ones
included).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.live_server import free_port

ROOT = Path(__file__).resolve().parent.parent
INFOVIEW = ROOT / ".venv" / "bin" / "infoview"


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    payload: Any = None
    error: str | None = None

    @property
    def verified(self) -> bool:
        return self.error is None

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")


@dataclass
class Answer:
    """How the receiver answers a path."""

    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: bytes = b""


class Receiver:
    """A webhook endpoint on 127.0.0.1 that can be stopped and started on the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.secrets: list[str] = []
        self.answers: dict[str, Answer] = {}
        self.default = Answer()
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # --- lifecycle ---

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                receiver._record(self.path, dict(self.headers.items()), body)
                answer = receiver.answers.get(self.path, receiver.default)
                if answer.delay:
                    time.sleep(answer.delay)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(answer.body)))
                self.end_headers()
                # The client may read what it wants and hang up.
                with contextlib.suppress(OSError):
                    self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what arrived ---

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> None:
        lowered = {k.lower(): v for k, v in headers.items()}
        item = Received(path=path, headers=lowered, body=body)
        errors = []
        for secret in self.secrets:
            try:
                item.payload = Webhook(secret).verify(body, lowered)
                break
            except WebhookVerificationError as exc:
                errors.append(str(exc))
        else:
            item.error = "; ".join(errors) or "no secret to verify with"
            item.payload = json.loads(body) if body else None
        with self._lock:
            self.received.append(item)

    def requests(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if path is None or r.path == path]

    def ids(self) -> Counter[str]:
        """How often each ``webhook-id`` arrived."""
        return Counter(r.webhook_id for r in self.requests())

    def wait_for(
        self, count: int, timeout: float = 10.0, where: Callable[[Received], bool] | None = None
    ) -> list[Received]:
        """Wait until ``count`` requests (matching ``where``) arrived; return them."""
        deadline = time.monotonic() + timeout
        while True:
            got = [r for r in self.requests() if where is None or where(r)]
            if len(got) >= count or time.monotonic() > deadline:
                return got
            time.sleep(0.05)


# --- running infoview as a real process ----------------------------------------------------


def process_env(database_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    """The environment for an ``infoview`` subprocess on the given database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFOVIEW_")}
    env.update(
        INFOVIEW_ENV="test",
        INFOVIEW_DATABASE_URL=database_url,
        INFOVIEW_VAR_DIR=str(var_dir),
        INFOVIEW_SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",
        INFOVIEW_WEBHOOK_ALLOW_PRIVATE="true",
        INFOVIEW_WEBHOOK_RETRY_SCHEDULE="[0, 0, 1]",
        INFOVIEW_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``infoview <args>``, its output going to ``log``."""
    out = log.open("ab")
    try:
        return subprocess.Popen(
            [str(INFOVIEW), *args], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
    finally:
        out.close()


def start_server(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``infoview serve`` on a free port; return the process and its base URL once up."""
    port = free_port()
    process = start(["serve", "--port", str(port)], env, log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60  # generous: a loaded CI machine starts Python slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"infoview serve exited: {log.read_text()}")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop(process)
    raise RuntimeError(f"infoview serve did not come up: {log.read_text()}")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    """Signal a process and wait for it; SIGKILL if it does not go within 10 s."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


__all__ = ["Receiver", "free_port", "process_env", "start", "start_server", "stop"]
