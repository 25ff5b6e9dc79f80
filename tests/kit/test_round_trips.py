"""How many times a request talks to PostgreSQL, counted on the wire.

Everything the app sends to the database passes through a proxy that counts round trips: the
app sending, after the database last answered on that connection (a long statement that
leaves in several packets is still one). The database is
usually on another host, where each round trip costs a millisecond or so, so these budgets
are what keeps a request fast there.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url

from app.kit.config import Settings
from app.main import create_app
from tests.factories import register
from tests.factories_interviews import complete_checklist, past, send


class CountingProxy:
    """Forward ``127.0.0.1:<port>`` to the database; count what the app sends."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.sent = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._sockets.append(sock)
            answered = threading.Event()
            answered.set()
            pipes = ((client, upstream, True), (upstream, client, False))
            for source, sink, counted in pipes:
                threading.Thread(
                    target=self._pipe, args=(source, sink, counted, answered), daemon=True
                ).start()

    def _pipe(
        self, source: socket.socket, sink: socket.socket, counted: bool, answered: threading.Event
    ) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:
                with contextlib.suppress(OSError):
                    sink.shutdown(socket.SHUT_WR)
                return
            if not counted:
                answered.set()
            elif answered.is_set():
                answered.clear()
                with self._lock:
                    self.sent += 1
            try:
                sink.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self._server.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()


@pytest.fixture
def counted(settings: Settings, database_url: str) -> Iterator[tuple[TestClient, CountingProxy]]:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite is in the process: there is no round trip to count")
    url = make_url(database_url)
    proxy = CountingProxy((url.host or "127.0.0.1", url.port or 5432))
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    application = create_app(settings.model_copy(update={"database_url": proxied}))
    try:
        with TestClient(application, raise_server_exceptions=False) as client:
            yield client, proxy
    finally:
        application.state.engine.dispose()
        proxy.close()


def round_trips(
    client: TestClient, proxy: CountingProxy, method: str, path: str, **kw: object
) -> int:
    """The round trips of one request, once the pool holds an open connection."""
    before = proxy.sent
    response = client.request(method, path, **kw)  # type: ignore[arg-type]
    assert response.status_code < 300, response.text
    return proxy.sent - before


def test_reads_and_writes_stay_within_their_round_trip_budgets(
    counted: tuple[TestClient, CountingProxy],
) -> None:
    client, proxy = counted
    user = register(client)
    headers = user.headers
    contact = client.post("/api/v1/contacts", json={"full_name": "Ada"}, headers=headers).json()
    interview = client.post(
        "/api/v1/interviews", json={"contact_id": contact["id"], "mode": "phone"}, headers=headers
    ).json()
    path = f"/api/v1/interviews/{interview['id']}"
    client.get(path, headers=headers)  # the pool has its connection from here on

    referral = client.post(
        "/api/v1/referrals",
        json={
            "referrer_id": contact["id"],
            "referred_id": contact2(client, headers),
            "relationship": "friend",
        },
        headers=headers,
    ).json()

    # Reads: one statement, which also proves the caller's account exists; no ping, no
    # separate caller check, no BEGIN or ROLLBACK around it.
    for read in (
        path,
        "/api/v1/interviews?limit=50",
        "/api/v1/interviews?limit=50&state=request",
        f"/api/v1/contacts/{contact['id']}",
        "/api/v1/contacts?limit=50",
        f"/api/v1/referrals/{referral['id']}",
        "/api/v1/referrals",
        "/api/v1/webhooks",
        "/api/v1/agenda",
    ):
        assert round_trips(client, proxy, "GET", read, headers=headers) == 1, read
    # A create: the row and its webhook event in one statement guarded by the caller check.
    created = round_trips(
        client, proxy, "POST", "/api/v1/contacts", json={"full_name": "Bo"}, headers=headers
    )
    assert created <= 2, created


def test_a_move_takes_three_round_trips_and_a_create_two(
    counted: tuple[TestClient, CountingProxy],
) -> None:
    client, proxy = counted
    user = register(client)
    headers = user.headers
    interviewee = client.post("/api/v1/contacts", json={"full_name": "Di"}, headers=headers)
    contact_id = interviewee.json()["id"]
    referral = client.post(
        "/api/v1/referrals",
        json={
            "referrer_id": contact2(client, headers),
            "referred_id": contact_id,
            "relationship": "friend",
        },
        headers=headers,
    ).json()
    body = {
        "contact_id": contact_id,
        "referral_id": referral["id"],
        "mode": "phone",
        "scheduled_at": past(1),
        "source": "crm",
        "external_id": "iv-1",
    }
    # The caller, the contact, the referral and the external identity checked in one
    # statement; the interview, its checklist and its event written in one more.
    before = proxy.sent
    created = client.post("/api/v1/interviews", json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert proxy.sent - before <= 2, proxy.sent - before
    interview_id = created.json()["id"]
    send(client, user, "request", contact_id, interview_id)
    complete_checklist(client, user, interview_id)
    moves = f"/api/v1/interviews/{interview_id}/transitions"

    # What may come next: the interview with its checklist, then the other facts.
    assert round_trips(client, proxy, "GET", moves, headers=headers) <= 2
    # A move: those two reads, then the compare-and-set, the recorded move, its event and
    # (on to held) the contact's last_contacted_at, as one statement.
    for to, extra in (("prepared", {}), ("held", {"held_at": past(0.5)})):
        trips = round_trips(client, proxy, "POST", moves, json={"to": to, **extra}, headers=headers)
        assert trips <= 3, (to, trips)


def contact2(client: TestClient, headers: dict[str, str]) -> str:
    response = client.post("/api/v1/contacts", json={"full_name": "Cy"}, headers=headers)
    contact_id: str = response.json()["id"]
    return contact_id
