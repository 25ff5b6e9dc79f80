"""A real SMTP server (aiosmtpd) beside each mail test, and the app pointed at it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from fastapi.testclient import TestClient

from app.kit.config import Settings
from tests.factories import User, register

RELAY_FROM = "letters@infoview.test"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Inbox:
    """What the SMTP server received; ``replies`` forces its next answers to DATA."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        self.replies: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.replies:
            return self.replies.pop(0)
        self.received.append(envelope)
        return "250 2.0.0 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        found: list[EmailMessage] = []
        for envelope in self.received:
            parsed = message_from_bytes(envelope.original_content, policy=policy.default)
            assert isinstance(parsed, EmailMessage)
            found.append(parsed)
        return found


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"me", b"s3cret")
    return AuthResult(success=ok, handled=False)


class Server:
    """An SMTP server on one port that can go down and come back up."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self.port = _free_port()
        self.controller: Controller | None = None

    def up(self) -> None:
        self.controller = Controller(
            self.inbox,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=_authenticator,
            auth_require_tls=False,
        )
        self.controller.start()

    def down(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, Server]]:
    server = Server(Inbox())
    server.up()
    try:
        yield server.inbox, server
    finally:
        server.down()


@pytest.fixture
def settings(settings: Settings, smtp: tuple[Inbox, Server]) -> Settings:
    _, server = smtp
    return settings.model_copy(
        update={
            "smtp_url": f"smtp://127.0.0.1:{server.port}?starttls=false",
            "smtp_from": RELAY_FROM,
            "mail_allow_private_hosts": True,
        }
    )


@pytest.fixture
def inbox(smtp: tuple[Inbox, Server]) -> Inbox:
    return smtp[0]


@pytest.fixture
def user(client: TestClient) -> User:
    me = register(client)
    r = client.patch("/api/v1/me", json={"full_name": "Zoë Ångström"}, headers=me.headers)
    assert r.status_code == 200, r.text
    return me
