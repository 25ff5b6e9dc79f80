"""Talking to a mail server: where it is, how to log in, and what its answer means.

The server-wide relay is one URL, ``INFOVIEW_SMTP_URL``:
``smtp://user:password@host:587?starttls=true`` (``starttls=false`` for a plain connection on a
private network), or ``smtps://user:password@host:465`` for TLS from the first byte. A user's
own mailbox gives the same pieces one by one.

An answer is sorted the way SMTP means it: a 4xx reply, a refused or dropped connection, or a
time-out is :class:`TemporaryFailure` (try again later); a 5xx reply (a refused recipient, a
rejected message, a failed login) is :class:`PermanentFailure` (trying again changes nothing).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

from app.mail.schemas import Security

TIMEOUT_SECONDS = 20.0


class DeliveryFailure(Exception):
    """The message was not accepted; ``str()`` says why, in the server's words if it gave any."""


class TemporaryFailure(DeliveryFailure):
    pass


class PermanentFailure(DeliveryFailure):
    pass


@dataclass(frozen=True)
class Transport:
    """A mail server and the login it takes."""

    host: str
    port: int
    security: Security
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> Transport:
        """The relay an ``smtp://`` or ``smtps://`` URL names (see the module)."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("must be smtp://user:password@host:587 or smtps://…@host:465")
        query = {k.lower(): v[-1].lower() for k, v in parse_qs(parts.query).items()}
        if scheme == "smtps":
            security = Security.TLS
        elif query.get("starttls", "true") in ("false", "0", "no"):
            security = Security.NONE
        else:
            security = Security.STARTTLS
        port = parts.port or (465 if scheme == "smtps" else 587)
        return cls(
            host=parts.hostname,
            port=port,
            security=security,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.security == Security.TLS:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=TIMEOUT_SECONDS, context=context
            )
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=TIMEOUT_SECONDS)
            if self.security == Security.STARTTLS:
                client.starttls(context=context)
        if self.username:
            client.login(self.username, self.password or "")
        return client

    def check(self) -> str:
        """Connect and log in, then leave: the server's greeting, or a :class:`DeliveryFailure`."""
        with _classified():
            client = self._connect()
            try:
                code, message = client.noop()
                return f"{code} {message.decode('utf-8', 'replace')}"
            finally:
                _quit(client)

    def send(self, message: EmailMessage, sender: str, recipients: list[str]) -> None:
        """Hand ``message`` to the server; returns once every recipient was accepted."""
        with _classified():
            client = self._connect()
            try:
                refused = client.send_message(message, from_addr=sender, to_addrs=recipients)
            finally:
                _quit(client)
        if refused:
            code, reply = next(iter(refused.values()))
            failure = PermanentFailure if code >= 500 else TemporaryFailure
            raise failure(f"{code} {reply.decode('utf-8', 'replace')}"[:500])


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


class _classified:
    """Turn smtplib's and the socket's errors into temporary or permanent failures."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if exc is None or isinstance(exc, DeliveryFailure):
            return
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            code, reply = next(iter(exc.recipients.values()))
            failure = PermanentFailure if code >= 500 else TemporaryFailure
            raise failure(f"{code} {reply.decode('utf-8', 'replace')}"[:500]) from exc
        if isinstance(exc, smtplib.SMTPResponseException):
            raw: bytes | str = exc.smtp_error
            said = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            failure = PermanentFailure if exc.smtp_code >= 500 else TemporaryFailure
            raise failure(f"{exc.smtp_code} {said}"[:500]) from exc
        if isinstance(exc, (smtplib.SMTPException, OSError, socket.timeout, ssl.SSLError)):
            raise TemporaryFailure(f"the mail server could not be reached: {exc}"[:500]) from exc
