"""The README's one-minute walk-through works word for word against a real ``infoview serve``.

The server is the console script in a subprocess, on a free port, with a fresh SQLite database
and a fresh development secret in a temporary directory; the curl commands are the README's own,
with only the port changed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
INFOVIEW = Path(sys.executable).parent / "infoview"
README_ADDRESS = "127.0.0.1:8000"


@dataclass
class Server:
    """A running ``infoview serve`` and where to find it."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_environment(home: Path) -> dict[str, str]:
    """No INFOVIEW_ setting from the caller: the defaults, with var/ inside ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFOVIEW_")}
    env["INFOVIEW_VAR_DIR"] = str(home / "var")
    return env


def wait_until_healthy(server: Server, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"infoview serve exited early:\n{server.log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://{server.address}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"infoview serve did not become healthy:\n{server.log.read_text()}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """``make run``'s two steps: migrate the default database, then serve it."""
    env = server_environment(tmp_path)
    migrated = subprocess.run(
        [str(INFOVIEW), "migrate"], cwd=tmp_path, env=env, capture_output=True, timeout=120
    )
    assert migrated.returncode == 0, migrated.stderr.decode()
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(INFOVIEW), "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    running = Server(process, port, log)
    try:
        wait_until_healthy(running)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def sh_blocks(heading: str, count: int) -> list[str]:
    """The first ``count`` ```sh blocks after the heading, as written."""
    text = README.read_text()
    found = re.search(rf"^#+ {re.escape(heading)}\s*$", text, re.MULTILINE)
    assert found, f"the README has no {heading!r} section"
    blocks = re.findall(r"^```sh\n(.*?)^```", text[found.end() :], re.MULTILINE | re.DOTALL)
    assert len(blocks) >= count, f"{heading!r} has fewer than {count} ```sh blocks"
    return list(blocks[:count])


def walk_through() -> str:
    """The first ```sh block after the "A one-minute walk-through" heading, as written."""
    return sh_blocks("A one-minute walk-through", 1)[0]


def json_documents(output: str) -> list[Any]:
    """Every JSON document in ``output`` (curl -s prints them with no separator)."""
    decoder = json.JSONDecoder()
    documents, index = [], 0
    while index < len(output):
        if output[index].isspace():
            index += 1
            continue
        document, index = decoder.raw_decode(output, index)
        documents.append(document)
    return documents


def test_the_walk_through_uses_the_default_address() -> None:
    script = walk_through()
    assert README_ADDRESS in script
    assert "curl" in script and "/api/v1/me" in script


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.skipif(shutil.which("python3") is None, reason="the walk-through uses python3")
@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_the_walk_through_works_word_for_word(server: Server) -> None:
    script = walk_through().replace(README_ADDRESS, server.address)
    proc = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=120, cwd=server.log.parent
    )
    assert proc.returncode == 0, proc.stderr
    registered, me = json_documents(proc.stdout)
    assert registered["email"] == "ada@example.com"
    assert me == registered  # GET /me answers with the account that was just made
    assert set(me) == {"id", "email", "full_name", "time_zone", "created_at"}
    assert me["time_zone"] == "UTC"  # until the user sets theirs

    # The server logged one JSON line per request, without the password or the token.
    _check_the_log(server, me)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.skipif(shutil.which("python3") is None, reason="the walk-through uses python3")
@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_the_walk_through_goes_on_to_an_interview_and_the_insights(server: Server) -> None:
    """The walk-through's next block (a contact, an interview, a request letter drafted, the
    agenda and the moves) and the insights' block after it, run on, word for word."""
    first, second = sh_blocks("A one-minute walk-through", 2)
    (insights,) = sh_blocks("What your network tells you", 1)
    script = "\n".join([first, second, insights]).replace(README_ADDRESS, server.address)
    proc = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=120, cwd=server.log.parent
    )
    assert proc.returncode == 0, proc.stderr
    answers = json_documents(proc.stdout)
    problems = [a for a in answers if isinstance(a, dict) and a.get("type") and a.get("status")]
    assert not problems, problems
    _, _, letter, agenda, moves, chain, courtesy, paths, stats, search, brief = answers
    assert letter["kind"] == "request" and letter["status"] == "draft"
    assert agenda["data"] == [] and moves  # nothing is due before the letter is sent
    assert chain and courtesy["data"] == [] and paths["data"]
    assert stats["groups"][0]["label"] == "accounting"
    assert search["data"] and brief["career_field"] == "accounting"


def _check_the_log(server: Server, me: dict[str, Any]) -> None:
    server.process.terminate()
    server.process.wait(timeout=20)
    log = server.log.read_text()
    lines = [json.loads(line) for line in log.splitlines()]  # uvicorn's own lines too
    assert any(line["logger"].startswith("uvicorn") for line in lines)
    access = [line for line in lines if line["logger"] == "infoview.access"]
    routes = [(line["method"], line["route"], line["status"]) for line in access]
    assert routes[-3:] == [
        ("POST", "/api/v1/auth/register", 201),
        ("POST", "/api/v1/auth/token", 200),
        ("GET", "/api/v1/me", 200),
    ]
    assert access[-1]["user_id"] == me["id"]
    assert "correct horse battery" not in log
    # The development secret was generated where INFOVIEW_VAR_DIR points, readable by us only.
    secret = server.log.parent / "var" / "secret_key"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert (server.log.parent / "var" / "infoview.db").exists()
