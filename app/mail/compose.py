"""A letter as an email: proper MIME, UTF-8 text, headers that carry any name.

``email.message.EmailMessage`` with the SMTP policy writes every header as RFC 5322 and RFC 2047
want it (a display name like "Zoë Müller" is encoded, an address is not), lines end with CRLF,
the text is ``text/plain; charset="utf-8"`` (quoted-printable where it is not ASCII), and each
attachment is a part of its own with its filename (RFC 2231 where it is not ASCII). No HTML
alternative: a letter is plain prose, and a second rendering of it is one more thing to get
wrong in someone's inbox.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime


@dataclass(frozen=True)
class Attachment:
    filename: str
    media_type: str
    content: bytes


def message_id(letter_key: str, from_address: str) -> str:
    """A fresh ``Message-ID`` on the sender's domain, chosen once when a letter is queued."""
    domain = from_address.rpartition("@")[2] or "infoview.invalid"
    return f"<{letter_key}.{secrets.token_hex(8)}@{domain}>"


def _address(name: str | None, address: str) -> Address:
    local, _, domain = address.rpartition("@")
    return Address(display_name=name or "", username=local, domain=domain)


def compose(
    *,
    from_name: str | None,
    from_address: str,
    to_name: str | None,
    to_address: str,
    subject: str,
    body: str,
    message_id: str,
    date: datetime,
    reply_to: str | None = None,
    attachments: Sequence[Attachment] = (),
) -> EmailMessage:
    """The message as it goes to the mail server."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = _address(from_name, from_address)
    message["To"] = _address(to_name, to_address)
    if reply_to and reply_to.lower() != from_address.lower():
        message["Reply-To"] = _address(from_name, reply_to)
    message["Subject"] = subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message.set_content(body if body.endswith("\n") else body + "\n", charset="utf-8")
    for attachment in attachments:
        maintype, _, subtype = attachment.media_type.partition("/")
        message.add_attachment(
            attachment.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )
    return message
