"""Every statement the idempotency domain sends to the database.

Records are found by (user, key), which a unique constraint makes one row: two requests that
claim the same key race on the insert, and one of them gets an ``IntegrityError`` at the
commit. Taking over an expired record is a compare-and-set on its lock time. Nothing here
commits.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from app.idempotency.schemas import IN_PROGRESS, IdempotencyRecord


class IdempotencyRepository:
    """Idempotency records: claims, their takeover once expired, outcomes, and the purge."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, record: IdempotencyRecord) -> None:
        """Add a new record to the session; it is written (or refused) at the commit."""
        self.session.add(record)

    def find(self, user_id: uuid.UUID, key: str) -> IdempotencyRecord | None:
        """The user's record for ``key``, if any."""
        return self.session.exec(
            select(IdempotencyRecord).where(
                IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key
            )
        ).first()

    def take_over(
        self,
        existing: IdempotencyRecord,
        method: str,
        path: str,
        request_fingerprint: str,
        now: datetime,
    ) -> bool:
        """Claim ``existing`` afresh for this request, if its lock time is still the one read;
        whether it was taken (of two retries, only one is)."""
        result = self.session.execute(
            update(IdempotencyRecord)
            .where(col(IdempotencyRecord.id) == existing.id)
            .where(col(IdempotencyRecord.locked_at) == existing.locked_at)
            .values(
                method=method,
                path=path,
                fingerprint=request_fingerprint,
                status=IN_PROGRESS,
                response_status=None,
                response_headers=None,
                response_body=None,
                created_at=now,
                locked_at=now,
            )
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def finish(
        self,
        record_id: uuid.UUID,
        outcome: str,
        status: int,
        headers: dict[str, Any],
        body: bytes | None,
    ) -> None:
        """Mark the record done (``outcome``), with what a retry is told."""
        self.session.execute(
            update(IdempotencyRecord)
            .where(col(IdempotencyRecord.id) == record_id)
            .values(
                status=outcome,
                response_status=status,
                response_headers=headers,
                response_body=body,
            )
        )

    def delete(self, record_id: uuid.UUID) -> None:
        """Delete the record."""
        self.session.execute(
            delete(IdempotencyRecord).where(col(IdempotencyRecord.id) == record_id)
        )

    def delete_created_before(self, cutoff: datetime) -> int:
        """Delete the records created before ``cutoff``; how many went."""
        result = self.session.execute(
            delete(IdempotencyRecord).where(col(IdempotencyRecord.created_at) < cutoff)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
