"""Idempotency keys: run a POST at most once per (user, key), answer retries from the record.

The records live in the database, so every API process shares them and they survive restarts.
A record is claimed ``in_progress`` (committed) before the request runs; then:

- a success (2xx) is recorded ``done`` with its response, which retries get again; if the
  response carried a secret, or is larger than :data:`MAX_STORED_BODY`, it is recorded done
  *without* its body, and a retry is told so (409 ``idempotency_response_not_kept``, with a
  link to the resource when there is one);
- a failure (4xx, 5xx, or an error) releases the key: the operations change nothing when they
  fail, and the client may retry with the same key.

**Never twice.** A claim that was never resolved — its process died mid-request, or the record
could not be written afterwards — is never taken over: whether its write committed cannot be
known from here, and a takeover would run it again. A retry is told ``idempotency_in_progress``
(409, ``Retry-After``) for :data:`LOCK_TIMEOUT`, and after that ``idempotency_outcome_unknown``
(409): check the resource, and use a new key to try again. The key is free once the record
expires (``settings.idempotency_hours``); expired records are never replayed and are purged,
opportunistically by the API and by ``purge_expired``.
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
from app.idempotency.schemas import (
    DONE,
    DONE_SECRET,
    DONE_TOO_LARGE,
    IdempotencyRecord,
)
from app.kit.db import utcnow
from app.kit.errors import Conflict, Unprocessable

MAX_KEY_LENGTH = 255
# The largest response body a record keeps; a larger success is recorded without it.
MAX_STORED_BODY = 64 * 1024
# How long an unresolved claim is reported as running rather than as interrupted.
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


def fingerprint(
    method: str, path: str, query: str, body: bytes, *, token_id: uuid.UUID | None = None
) -> str:
    """A digest of the request, to tell a retry from another request reusing the key.

    The credential is part of the request: a personal access token's id, or nothing for the
    user's sessions. A key used with one token is never replayed to another token, nor to a
    session: what a response reveals may need scopes only the first caller had.
    """
    digest = hashlib.sha256()
    if token_id is not None:
        digest.update(b"token:" + token_id.bytes + b"\n")
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

    Raises 422 ``idempotency_key_reused`` when the key came with a different request; 409
    ``idempotency_in_progress`` while it runs, ``idempotency_outcome_unknown`` once it has been
    unresolved for longer than :data:`LOCK_TIMEOUT`, ``idempotency_response_not_kept`` when
    it ran but its response was not kept.
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
        return _answer(existing, request_fingerprint, now)
    raise _in_progress()


def _answer(existing: IdempotencyRecord, request_fingerprint: str, now: datetime) -> StoredResponse:
    """What a retry of ``existing`` gets, when it is not the first to claim the key."""
    if existing.fingerprint != request_fingerprint:
        raise Unprocessable(
            "This Idempotency-Key was already used with a different request (another path, "
            "query or body, or another credential); use a new key for a new request.",
            code="idempotency_key_reused",
        )
    if existing.status == DONE and existing.response_status is not None:
        return StoredResponse(
            status=existing.response_status,
            headers=dict(existing.response_headers or {}),
            body=existing.response_body or b"",
        )
    if existing.status in (DONE_SECRET, DONE_TOO_LARGE):
        location = (existing.response_headers or {}).get("location")
        why = (
            "carried a secret, which is shown once"
            if existing.status == DONE_SECRET
            else f"was larger than the {MAX_STORED_BODY // 1024} KiB a retry can be given"
        )
        where = f" The resource is at {location}." if location else ""
        raise Conflict(
            f"The request sent with this Idempotency-Key succeeded and will not run again; its "
            f"response {why}, so it is not kept.{where}",
            code="idempotency_response_not_kept",
            **({"location": location} if location else {}),
        )
    if existing.locked_at <= now - LOCK_TIMEOUT:
        raise Conflict(
            "The request sent with this Idempotency-Key was interrupted before it answered "
            "(the server restarted), so whether it made its change is unknown. It never runs "
            "again under this key: check the resource, and use a new key to try again.",
            code="idempotency_outcome_unknown",
        )
    raise _in_progress()


def _in_progress() -> Conflict:
    return Conflict(
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
    """Store the successful response of a claimed request, for retries to replay."""
    IdempotencyRepository(session).finish(record_id, DONE, status, headers, body)
    session.commit()


def complete_without_body(
    session: Session, record_id: uuid.UUID, status: int, location: str | None, *, secret: bool
) -> None:
    """Record that a claimed request succeeded, keeping only where its resource is.

    For a response that carried a secret (``secret``), or was too large to keep.
    """
    outcome = DONE_SECRET if secret else DONE_TOO_LARGE
    headers = {"location": location} if location else {}
    IdempotencyRepository(session).finish(record_id, outcome, status, headers, None)
    session.commit()


def release(session: Session, record_id: uuid.UUID) -> None:
    """Forget a claim whose request failed, so that a retry with the key runs it again."""
    IdempotencyRepository(session).delete(record_id)
    session.commit()


def purge_expired(session: Session, hours: int, now: datetime | None = None) -> int:
    """Delete the records older than the retention period; return how many went."""
    cutoff = (now or utcnow()) - timedelta(hours=hours)
    purged = IdempotencyRepository(session).delete_created_before(cutoff)
    session.commit()
    return purged
