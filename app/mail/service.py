"""Mail: which server a user's letters go through, queuing them, and sending what is queued.

**Which server.** A user's own mailbox when they set one up (``PUT /mail/account``); else the
server's relay (``INFOVIEW_SMTP_URL``), sending from ``INFOVIEW_SMTP_FROM`` with the user's name
in ``From`` and their address in ``Reply-To``; else none, and letters are only recorded.

**Queuing** happens in the transaction that closes the letter to changes (see
``app.letters.service.send``): a :class:`MailMessage` row with the ``Message-ID`` every attempt
will use.

**Sending** (:class:`app.mail.sender.MailSender`, in the API process or ``infoview worker``):
a due message is claimed with a lease (a compare-and-set, so two senders never take the same
one), sent, and recorded. Accepted: the letter is sent as of then (``letter.sent`` and
``letter.delivered``). A temporary failure (4xx, a server down) is tried again later, up to
:data:`MAX_ATTEMPTS` times with growing waits; a permanent one (5xx), or the last attempt,
makes the letter a draft again with the server's reason (``letter.delivery_failed``). A sender
that dies mid-send leaves the lease to expire, and the message is tried again with the same
``Message-ID``: the one case where a server that did accept it may receive it twice.
"""

from __future__ import annotations

import ipaddress
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlmodel import Session, col

from app.accounts.schemas import UserAccount
from app.contacts.schemas import Contact
from app.kit import secret_box
from app.kit.config import Settings
from app.kit.db import utcnow
from app.kit.errors import AppError, NotFound, Unprocessable
from app.letters.schemas import Letter
from app.mail.compose import Attachment, compose, message_id
from app.mail.schemas import (
    MailAccount,
    MailAccountIn,
    MailAccountPublic,
    MailMessage,
    MailSetup,
    MailStatus,
    MailTestResult,
    Security,
)
from app.mail.transport import DeliveryFailure, PermanentFailure, Transport

MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=2)
LEASE = timedelta(minutes=2)
DEFAULT_SUBJECTS = {
    "request": "A request for a short conversation",
    "follow_up": "Following up on my letter",
    "thank_you": "Thank you",
    "report_back": "How it went",
    "update": "An update",
    "feeler": "Following our conversation",
    "keep_in_touch": "Keeping in touch",
}


@dataclass(frozen=True)
class Route:
    """How one user's letters leave: the server, and who they come from."""

    transport: Transport
    from_address: str
    reply_to: str | None


# --- the user's own mailbox ----------------------------------------------------------------------


def _check_host(settings: Settings, host: str, port: int) -> None:
    """A user-given mail server must be on the public internet (unless the server allows)."""
    if settings.mail_allow_private_hosts:
        return
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):  # unknown, or not a name at all ("a..b")
        raise Unprocessable(
            f"The mail server {host!r} cannot be found.", code="mail_host_unknown"
        ) from None
    for *_, address in found:
        ip = ipaddress.ip_address(address[0])
        if not ip.is_global:
            raise Unprocessable(
                f"The mail server {host!r} is on a private or reserved address; use the "
                "address your mail provider publishes.",
                code="mail_host_not_allowed",
            )


def _public(account: MailAccount) -> MailAccountPublic:
    return MailAccountPublic(
        host=account.host,
        port=account.port,
        security=Security(account.security),
        username=account.username,
        from_address=account.from_address,
        updated_at=account.updated_at,
    )


def _from_address(data: MailAccountIn, fallback: str) -> str:
    if data.from_address:
        return data.from_address
    return data.username if "@" in data.username else fallback


def setup(session: Session, settings: Settings, owner_id: uuid.UUID) -> MailSetup:
    """The user's own mailbox (if any), whether there is a relay, and the default delivery."""
    account = session.get(MailAccount, owner_id)
    relay = bool(settings.smtp_url)
    return MailSetup(
        mailbox=_public(account) if account is not None else None,
        relay=relay,
        default_delivery="email" if account is not None or relay else "record",
    )


def save_account(
    session: Session, settings: Settings, owner_id: uuid.UUID, data: MailAccountIn
) -> MailSetup:
    """Set up (or replace) the user's own mailbox; the password is sealed before it is stored."""
    _check_host(settings, data.host, data.port)
    owner = session.get(UserAccount, owner_id)
    assert owner is not None
    fields: dict[str, Any] = {
        "host": data.host,
        "port": data.port,
        "security": data.security.value,
        "username": data.username,
        "from_address": _from_address(data, owner.email),
    }
    account = session.get(MailAccount, owner_id)
    if account is None:
        account = MailAccount(owner_id=owner_id, password_sealed="", **fields)
    else:
        for name, value in fields.items():
            setattr(account, name, value)
        account.version += 1
        account.updated_at = utcnow()
    account.password_sealed = secret_box.seal(
        settings.secret_key, account.id, data.password, secret_box.MAIL_PASSWORDS
    )
    session.add(account)
    session.commit()
    return setup(session, settings, owner_id)


def delete_account(session: Session, owner_id: uuid.UUID) -> None:
    account = session.get(MailAccount, owner_id)
    if account is None:
        raise NotFound("No mailbox is set up.", code="mail_account_not_found")
    session.delete(account)
    session.commit()


def _mailbox(settings: Settings, account: MailAccount) -> Transport:
    return Transport(
        host=account.host,
        port=account.port,
        security=Security(account.security),
        username=account.username,
        password=secret_box.open_(
            settings.secret_key, account.id, account.password_sealed, secret_box.MAIL_PASSWORDS
        ),
    )


def test_account(
    session: Session, settings: Settings, owner_id: uuid.UUID, data: MailAccountIn | None
) -> MailTestResult:
    """Log in to the given mailbox (or the stored one) and say what the server answered."""
    if data is not None:
        _check_host(settings, data.host, data.port)
        transport = Transport(data.host, data.port, data.security, data.username, data.password)
    else:
        account = session.get(MailAccount, owner_id)
        if account is None:
            raise NotFound("No mailbox is set up.", code="mail_account_not_found")
        try:
            transport = _mailbox(settings, account)
        except secret_box.SecretUnreadable:
            return MailTestResult(
                ok=False, detail="The stored password cannot be read any more; set it again."
            )
    session.close()  # nothing to hold while a distant server answers
    try:
        return MailTestResult(ok=True, detail=transport.check())
    except DeliveryFailure as exc:
        return MailTestResult(ok=False, detail=str(exc))


# --- routes and the queue ------------------------------------------------------------------------


def route_for(session: Session, settings: Settings, owner_id: uuid.UUID) -> Route | None:
    """How this user's letters leave, or None if mail is not set up for them."""
    account = session.get(MailAccount, owner_id)
    if account is not None:
        try:
            transport = _mailbox(settings, account)
        except secret_box.SecretUnreadable:  # the server's key changed since it was sealed
            raise Unprocessable(
                "Your mailbox's password cannot be read any more; set the mailbox up again "
                "with PUT /api/v1/mail/account.",
                code="mail_account_unreadable",
            ) from None
        return Route(transport, account.from_address, None)
    if settings.smtp_url:
        relay = Transport.from_url(settings.smtp_url)
        owner = session.get(UserAccount, owner_id)
        sender = settings.smtp_from or f"letters@{relay.host}"
        return Route(relay, sender, owner.email if owner else None)
    return None


def queue(session: Session, owner_id: uuid.UUID, letter: Letter, route: Route) -> str:
    """Queue ``letter`` for sending (in the caller's transaction); its ``Message-ID``."""
    recipient = session.get(Contact, letter.recipient_id)
    if recipient is None or not recipient.email:
        raise Unprocessable(
            "The recipient has no email address; add one to the contact, or send with "
            "delivery=record.",
            code="recipient_has_no_email",
        )
    session.execute(delete(MailMessage).where(MailMessage.letter_id == letter.id))  # type: ignore[arg-type]
    chosen = message_id(letter.id.hex[:12], route.from_address)
    session.add(MailMessage(owner_id=owner_id, letter_id=letter.id, message_id=chosen))
    return chosen


# --- sending -------------------------------------------------------------------------------------


def claim(session: Session, now: datetime, limit: int) -> list[uuid.UUID]:
    """Take up to ``limit`` due messages (queued and due, or a dead sender's lease expired)."""
    status, lease = col(MailMessage.status), col(MailMessage.lease_until)
    due = or_(
        (status == MailStatus.QUEUED.value) & (col(MailMessage.next_attempt_at) <= now),
        (status == MailStatus.SENDING.value) & (lease < now),
    )
    candidates = session.execute(
        select(col(MailMessage.id))
        .where(due)
        .order_by(col(MailMessage.next_attempt_at))
        .limit(limit)
    ).scalars()
    claimed: list[uuid.UUID] = []
    for mail_id in list(candidates):
        taken = session.execute(
            update(MailMessage)
            .where(col(MailMessage.id) == mail_id, due)
            .values(
                status=MailStatus.SENDING.value,
                lease_until=now + LEASE,
                attempts=MailMessage.attempts + 1,
            )
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(mail_id)
    session.commit()
    return claimed


def _wait(attempts: int) -> timedelta:
    wait: timedelta = FIRST_RETRY * (2 ** max(attempts - 1, 0))
    return min(wait, LONGEST_WAIT)


def _attachments(session: Session, letter: Letter) -> list[Attachment]:
    ids = getattr(letter, "attachment_ids", None)
    if not ids:
        return []
    from app.documents.service import attachments_of

    try:
        enclosed = attachments_of(session, letter.owner_id, letter)
    except AppError as exc:  # a document gone since: never send the letter without it
        raise PermanentFailure(exc.detail) from exc
    return [Attachment(*found) for found in enclosed]


def deliver(session: Session, settings: Settings, mail_id: uuid.UUID, now: datetime) -> str:
    """Send one claimed message and record what came of it: delivered, retry or failed."""
    from app.letters import service as letters

    message = session.get(MailMessage, mail_id)
    if message is None:
        return "gone"
    letter = session.get(Letter, message.letter_id)
    owner = session.get(UserAccount, message.owner_id)
    recipient = session.get(Contact, letter.recipient_id) if letter else None
    try:
        try:
            route = route_for(session, settings, message.owner_id)
        except AppError as exc:  # the mailbox cannot be used any more
            raise PermanentFailure(exc.detail) from exc
        if letter is None or owner is None or recipient is None or not recipient.email:
            raise PermanentFailure("the letter or its recipient's address is gone")
        if route is None:
            raise PermanentFailure("mail is no longer set up for this account")
        try:
            email = compose(
                from_name=owner.full_name or owner.email,
                from_address=route.from_address,
                to_name=recipient.full_name,
                to_address=recipient.email,
                subject=letter.subject or DEFAULT_SUBJECTS.get(letter.kind, "A letter"),
                body=letter.body,
                message_id=message.message_id,
                date=now,
                reply_to=route.reply_to,
                attachments=_attachments(session, letter),
            )
        except ValueError as exc:  # an address or a header the message cannot carry
            raise PermanentFailure(f"the message cannot be written: {exc}"[:500]) from exc
        session.commit()  # end the read: nothing is held while the server answers
        route.transport.send(email, route.from_address, [recipient.email])
    except DeliveryFailure as failure:
        permanent = isinstance(failure, PermanentFailure) or message.attempts >= MAX_ATTEMPTS
        message.last_error = str(failure)[:500]
        message.lease_until = None
        if permanent:
            message.status = MailStatus.FAILED.value
            letters.mark_undeliverable(session, message.letter_id, message.last_error)
        else:
            message.status = MailStatus.QUEUED.value
            message.next_attempt_at = now + _wait(message.attempts)
        session.add(message)
        session.commit()
        return message.status
    message.status = MailStatus.DELIVERED.value
    message.delivered_at = now
    message.lease_until = None
    message.last_error = None
    session.add(message)
    letters.mark_delivered(session, message.letter_id, now)
    session.commit()
    return message.status
