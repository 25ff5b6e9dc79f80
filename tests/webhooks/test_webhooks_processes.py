"""Webhooks across real processes: nothing is lost when the server is killed with SIGKILL, and
several workers on one PostgreSQL database never make one attempt twice."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.kit.config import Settings
from app.main import create_app
from app.webhooks.schemas import WebhookDelivery
from tests.conftest import TEST_SECRET, _truncate_postgres
from tests.factories import PASSWORD, register
from tests.factories_contacts import create_contact
from tests.factories_webhooks import create_webhook
from tests.live_server import live_server
from tests.webhook_receiver import Answer, Receiver, process_env, start, start_server, stop


def _sign_up(http: httpx.Client) -> dict[str, str]:
    email = f"kill-{time.monotonic_ns()}@example.com"
    r = http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = http.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _wait_for_log(path: Path, text: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {path}: {path.read_text()}")


def _wait_until_catching(pid: int, sig: signal.Signals, timeout: float = 30.0) -> None:
    """Wait until process ``pid`` handles ``sig`` itself (its SigCgt mask in /proc says so)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text()
        caught = int(
            next(line for line in status.splitlines() if line.startswith("SigCgt:"))[7:], 16
        )
        if caught & (1 << (sig - 1)):
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} never started handling {sig.name}")


def test_an_event_committed_before_sigkill_is_delivered_after_restart(
    database_url: str, tmp_path: Path
) -> None:
    with Receiver() as receiver:
        # The server commits the change (and its event) but delivers nothing, then dies hard.
        env = process_env(database_url, tmp_path, INFOVIEW_RUN_DISPATCHER="false")
        server, base = start_server(env, tmp_path / "serve.log")
        try:
            with httpx.Client(base_url=base, timeout=10) as http:
                headers = _sign_up(http)
                r = http.post(
                    "/api/v1/webhooks",
                    json={"url": receiver.url(), "event_types": ["contact.created"]},
                    headers=headers,
                )
                assert r.status_code == 201, r.text
                receiver.secrets.append(r.json()["secret"])
                r = http.post("/api/v1/contacts", json={"full_name": "Ada"}, headers=headers)
                assert r.status_code == 201, r.text
                contact_id = r.json()["id"]
        finally:
            assert stop(server, signal.SIGKILL) == -signal.SIGKILL
        time.sleep(0.2)
        assert receiver.requests() == []

        # After the restart, a separate worker (and the server's own dispatcher, started
        # alongside to save time) find the event in the outbox; it is delivered once.
        worker = start(
            ["worker", "--poll-interval", "0.1"],
            process_env(database_url, tmp_path),
            tmp_path / "worker.log",
        )
        serve_env = process_env(database_url, tmp_path, INFOVIEW_RUN_DISPATCHER="true")
        try:
            with live_server(database_url, workers=1, env=serve_env) as base:
                [got] = receiver.wait_for(1, timeout=30)
                # The server's dispatcher may have been first; a worker still starting up
                # (under load, Python itself takes a while) must be listening before it is
                # told to stop.
                _wait_until_catching(worker.pid, signal.SIGTERM)
                assert stop(worker) == 0  # SIGTERM: a clean stop
                assert got.verified, got.error
                assert got.payload["type"] == "contact.created"
                assert got.payload["data"]["id"] == contact_id

                # With the worker gone, `infoview serve` delivers new events by itself.
                with httpx.Client(base_url=base, timeout=10) as http:
                    r = http.post("/api/v1/contacts", json={"full_name": "Bob"}, headers=headers)
                    assert r.status_code == 201, r.text
                receiver.wait_for(2, timeout=30)
        finally:
            stop(worker)
        names = [r.payload["data"]["full_name"] for r in receiver.requests()]
        assert names == ["Ada", "Bob"]  # and the first event was not sent again


EVENTS = 30


def test_two_workers_on_postgresql_deliver_each_event_once(
    postgres_database: str, tmp_path: Path
) -> None:
    _truncate_postgres(postgres_database)
    settings = Settings(
        env="test",
        database_url=postgres_database,
        secret_key=TEST_SECRET,
        run_dispatcher=False,
        webhook_allow_private=True,
    )
    app = create_app(settings)
    with Receiver() as receiver, TestClient(app) as client:
        receiver.default = Answer(delay=0.05)  # slow enough that the workers' passes overlap
        user = register(client)
        create_webhook(client, user, receiver.url(), ["contact.created"], receiver)

        env = process_env(postgres_database, tmp_path, INFOVIEW_LOG_LEVEL="INFO")
        args = ["worker", "--batch-size", "3", "--poll-interval", "0.05"]
        logs = [tmp_path / f"worker{i}.log" for i in range(2)]
        workers = [start(args, env, log) for log in logs]
        try:
            for log in logs:
                _wait_for_log(log, "webhook dispatcher started")
            for i in range(EVENTS):
                create_contact(client, user, full_name=f"Contact {i}")
            got = receiver.wait_for(EVENTS, timeout=30)
            time.sleep(1.0)  # room for a duplicate to show up, if there were one
        finally:
            codes = [stop(worker) for worker in workers]
        assert codes == [0, 0]

        counts = receiver.ids()
        assert len(got) >= EVENTS
        assert len(counts) == EVENTS
        assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v > 1}
        assert all(r.verified for r in receiver.requests())
        with Session(app.state.engine) as session:
            rows: list[Any] = list(session.exec(select(WebhookDelivery)).all())
        assert len(rows) == EVENTS
        assert {(row.status, row.attempts) for row in rows} == {("succeeded", 1)}
    app.state.engine.dispose()
