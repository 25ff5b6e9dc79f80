"""Replies come back: an email posted to the user's secret inbound URL becomes an interaction.

Mail providers' "inbound parse" routes post a received email to a URL, as raw MIME or as a form
with the raw message in a field (``email``, ``body-mime`` or ``message``); the command line
(``infoview inbound-email FILE``) feeds ``.eml`` and mbox files the same way. The URL carries a
secret per user (``POST /api/v1/mail/inbound``, rotatable; only its SHA-256 is kept), which is
all that authenticates it: no bearer token is sent by a mail provider.

A reply is matched to the user's letter by ``In-Reply-To``, then ``References`` (the
``Message-ID`` an emailed letter went out with), and failing those by its sender: the newest
sent letter to the contact with that address. It is recorded as an inbound ``reply``
interaction with that contact (and the letter's interview), which is what clears the agenda's
follow-up after a request; a ``letter.replied`` event says so. An email matching nothing is
answered ``matched: false`` and not kept. The reply's own ``Message-ID`` is remembered, so a
provider posting the same email twice records it once.
"""

from __future__ import annotations

import email
import re
import secrets
import uuid
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.contacts.schemas import Contact
from app.interactions import service as interactions
from app.interactions.schemas import InteractionCreate
from app.kit.db import utcnow
from app.kit.errors import NotFound, Unprocessable
from app.kit.security import sha256_hex
from app.letters.schemas import Letter, LetterPublic
from app.mail.schemas import InboundAddress, InboundMessage, InboundResult, InboundToken
from app.vocabulary import Direction, InteractionKind, LetterStatus
from app.webhooks.outbox import emit

SECRET_PREFIX = "ivi_"
MAX_TOKEN_LENGTH = 200
MAX_NOTES = 20000
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}>")


def rotate(session: Session, owner_id: uuid.UUID, base_url: str) -> InboundToken:
    """Issue a new inbound secret, replacing the previous one; returns it with its URL."""
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    address = session.get(InboundAddress, owner_id) or InboundAddress(
        owner_id=owner_id, token_hash=""
    )
    address.token_hash = sha256_hex(secret)
    address.created_at = utcnow()
    session.add(address)
    session.commit()
    return InboundToken(token=secret, url=f"{base_url}api/v1/inbound/email/{secret}")


def revoke(session: Session, owner_id: uuid.UUID) -> None:
    address = session.get(InboundAddress, owner_id)
    if address is not None:
        session.delete(address)
        session.commit()


def owner_for(session: Session, token: str) -> uuid.UUID:
    """The user an inbound secret belongs to; anything else is a 404 (no such address)."""
    found = None
    if token.startswith(SECRET_PREFIX) and len(token) <= MAX_TOKEN_LENGTH:
        found = session.exec(
            select(InboundAddress).where(col(InboundAddress.token_hash) == sha256_hex(token))
        ).first()
    if found is None:
        raise NotFound(
            "No such inbound address: it is mistyped, or was replaced or turned off; create a "
            "new one with POST /api/v1/mail/inbound.",
            code="inbound_address_not_found",
        )
    return found.owner_id


def parse(raw: bytes) -> EmailMessage:
    """The email as Python reads it (any MIME, any charset); an empty body is a 422."""
    if not raw.strip():
        raise Unprocessable("The email is empty.", code="empty_email")
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _ids(value: str | None) -> list[str]:
    return _MESSAGE_ID.findall(value or "")[:50]


def _text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    try:
        text = str(body.get_content())
    except (LookupError, UnicodeError):
        payload = body.get_payload(decode=True)
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return text.replace("\x00", "")


def _when(message: EmailMessage) -> datetime:
    now = utcnow()
    try:
        sent = parsedate_to_datetime(str(message["Date"])) if message["Date"] else None
    except (TypeError, ValueError, IndexError):
        sent = None
    if sent is None:
        return now
    sent = sent if sent.tzinfo else sent.replace(tzinfo=UTC)
    return min(sent.astimezone(UTC), now)  # never in the future


def _letter(session: Session, owner_id: uuid.UUID, message: EmailMessage) -> Letter | None:
    ids = _ids(message["In-Reply-To"]) + _ids(message["References"])[::-1]
    for wanted in ids:
        found = session.exec(
            select(Letter).where(col(Letter.owner_id) == owner_id, col(Letter.message_id) == wanted)
        ).first()
        if found is not None:
            return found
    return None


def _sender_contact(session: Session, owner_id: uuid.UUID, message: EmailMessage) -> Contact | None:
    addresses = [a for _, a in getaddresses([str(message["From"] or "")]) if "@" in a]
    if not addresses:
        return None
    found = session.exec(
        select(Contact)
        .where(
            col(Contact.owner_id) == owner_id,
            func.lower(col(Contact.email)) == addresses[0].lower(),
        )
        .order_by(col(Contact.id))
    ).first()
    return found


def _latest_letter_to(
    session: Session, owner_id: uuid.UUID, contact_id: uuid.UUID
) -> Letter | None:
    found = session.exec(
        select(Letter)
        .where(
            col(Letter.owner_id) == owner_id,
            col(Letter.recipient_id) == contact_id,
            col(Letter.status) == LetterStatus.SENT.value,
        )
        .order_by(col(Letter.sent_at).desc())
    ).first()
    return found


def receive(session: Session, owner_id: uuid.UUID, raw: bytes) -> InboundResult:
    """Record one posted email as a reply, if it answers one of the user's letters."""
    message = parse(raw)
    own_ids = _ids(message["Message-ID"])
    own_id = own_ids[0] if own_ids else None
    if own_id is not None:
        seen = session.exec(
            select(InboundMessage).where(
                col(InboundMessage.owner_id) == owner_id,
                col(InboundMessage.message_id) == own_id,
            )
        ).first()
        if seen is not None:
            row = seen
            return InboundResult(
                matched=True,  # only a matched email is remembered
                duplicate=True,
                interaction_id=row.interaction_id,
            )
    letter = _letter(session, owner_id, message)
    contact: Contact | None = None
    if letter is None:
        contact = _sender_contact(session, owner_id, message)
        if contact is not None:
            letter = _latest_letter_to(session, owner_id, contact.id)
    contact_id = letter.recipient_id if letter is not None else (contact.id if contact else None)
    if contact_id is None:
        return InboundResult(matched=False, duplicate=False)
    subject = str(message["Subject"] or "").strip()
    text = _text(message).strip()
    notes = (f"{subject}\n\n{text}" if subject else text)[:MAX_NOTES] or None
    if letter is not None and letter.status == LetterStatus.SENT.value:
        emit(session, owner_id, "letter.replied", LetterPublic.model_validate(letter))
    remembered = None
    if own_id is not None:  # committed with the interaction: a repost is never recorded twice
        remembered = InboundMessage(owner_id=owner_id, message_id=own_id)
        session.add(remembered)
    logged, _ = interactions.create(
        session,
        owner_id,
        InteractionCreate(
            contact_id=contact_id,
            interview_id=letter.interview_id if letter is not None else None,
            letter_id=letter.id if letter is not None and letter.status == "sent" else None,
            kind=InteractionKind.REPLY,
            direction=Direction.INBOUND,
            occurred_at=_when(message),
            notes=notes,
        ),
    )
    if remembered is not None:  # then linked to what it made
        remembered.interaction_id = logged.id
        session.add(remembered)
        session.commit()
    return InboundResult(
        matched=True,
        duplicate=False,
        letter_id=letter.id if letter is not None else None,
        contact_id=contact_id,
        interaction_id=logged.id,
    )
