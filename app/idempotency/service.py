"""Idempotency keys: run a POST once per (user, key), answer retries with the stored response.

The records live in the database, so every API process shares them and they survive restarts.
A record is claimed ``in_progress`` before the request runs and holds the response once it
has answered. A claim left ``in_progress`` for longer than ``LOCK_TIMEOUT`` (the process died
mid-request) may be taken over by a retry. Records older than ``settings.idempotency_hours``
are never replayed and are purged, opportunistically by the API and by ``purge_expired``.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.idempotency.repository import IdempotencyRepository
from app.idempotency.schemas import DONE, IdempotencyRecord
from app.kit.db import utcnow
from app.kit.errors import Conflict, Unprocessable

MAX_KEY_LENGTH = 255
LOCK_TIMEOUT = timedelta(seconds=60)
_CLAIM_ATTEMPTS = 3


@dataclass(frozen=True)
class Claimed:
    """This request holds the key: run it, then ``complete`` or ``release`` the record."""

    record_id: uuid.UUID


@dataclass(frozen=True)
class StoredResponse:
    """What the first request with this key answered; replay it."""

    status: int
    headers: dict[str, str]
    body: bytes


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """A digest of the request, to tell a retry from another request reusing the key."""
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode()):
        digest.update(part + b"\n")
    digest.update(body)
    return digest.hexdigest()


def claim(
    session: Session,
    user_id: uuid.UUID,
    key: str,
    *,
    method: str,
    path: str,
    request_fingerprint: str,
    ttl: timedelta,
) -> Claimed | StoredResponse:
    """Claim ``key`` for this request, or say what to answer instead.

    Raises 409 ``idempotency_in_progress`` while another request holds the key, and 422
    ``idempotency_key_reused`` when the key came with a different request.
    """
    records = IdempotencyRepository(session)
    for _ in range(_CLAIM_ATTEMPTS):
        record = IdempotencyRecord(
            user_id=user_id,
            key=key,
            method=method,
            path=path,
            fingerprint=request_fingerprint,
        )
        records.add(record)
        try:
            session.commit()
            return Claimed(record.id)
        except IntegrityError:
            session.rollback()
        existing = records.find(user_id, key)
        if existing is None:  # released or purged in between: try the insert again
            continue
        now = utcnow()
        if existing.created_at <= now - ttl:
            # Past its retention the key is free again; the old response is never replayed.
            if _take_over(session, existing, method, path, request_fingerprint, now):
                return Claimed(existing.id)
            continue
        if existing.fingerprint != request_fingerprint:
            raise Unprocessable(
                "This Idempotency-Key was already used with a different request; "
                "use a new key for a new request.",
                code="idempotency_key_reused",
            )
        if existing.status == DONE and existing.response_status is not None:
            return StoredResponse(
                status=existing.response_status,
                headers=dict(existing.response_headers or {}),
                body=existing.response_body or b"",
            )
        if existing.locked_at <= now - LOCK_TIMEOUT:
            # The request that claimed it never finished (its process died): take over.
            if _take_over(session, existing, method, path, request_fingerprint, now):
                return Claimed(existing.id)
            continue
        break
    raise Conflict(
        "A request with this Idempotency-Key is still in progress; retry shortly.",
        code="idempotency_in_progress",
        headers={"Retry-After": "1"},
    )


def _take_over(
    session: Session,
    existing: IdempotencyRecord,
    method: str,
    path: str,
    request_fingerprint: str,
    now: datetime,
) -> bool:
    # Compare-and-set on the lock time, so of two retries only one takes the key over.
    taken = IdempotencyRepository(session).take_over(
        existing, method, path, request_fingerprint, now
    )
    session.commit()
    return taken


def complete(
    session: Session, record_id: uuid.UUID, status: int, headers: dict[str, Any], body: bytes
) -> None:
    """Store the response of a claimed request, for retries to replay."""
    IdempotencyRepository(session).store_response(record_id, status, headers, body)
    session.commit()


def release(session: Session, record_id: uuid.UUID) -> None:
    """Forget a claim whose request failed on our side, so that a retry runs it again."""
    IdempotencyRepository(session).delete(record_id)
    session.commit()


def purge_expired(session: Session, hours: int, now: datetime | None = None) -> int:
    """Delete the records older than the retention period; return how many went."""
    cutoff = (now or utcnow()) - timedelta(hours=hours)
    purged = IdempotencyRepository(session).delete_created_before(cutoff)
    session.commit()
    return purged
