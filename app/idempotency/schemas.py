"""Stored outcomes of POST requests sent with an ``Idempotency-Key``.

One row per (user, key). While the first request runs the row is ``in_progress``; once it has
answered with a success, the row keeps what it answered (status, a few headers, body) so that a
retry with the same key and the same request gets the same response instead of doing the work
twice. A success whose response carried a secret, or was too large to keep, is recorded as
done without its body: a retry learns that it ran, and where the resource is, never the body.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.kit.db import JSONType, UTCDateTime, new_id, utcnow

IN_PROGRESS = "in_progress"
DONE = "done"
# Done, and the response not kept: it carried a secret, or was larger than a record holds.
DONE_SECRET = "done_secret"
DONE_TOO_LARGE = "done_too_large"


class IdempotencyRecord(SQLModel, table=True):
    """A key a user sent, the request it came with, and (once done) the response."""

    __tablename__ = "idempotency_record"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        Index("ix_idempotency_record_created_at", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user_account.id", ondelete="CASCADE")
    key: str = Field(max_length=255)
    method: str = Field(max_length=10)
    path: str = Field(max_length=2048)
    fingerprint: str = Field(max_length=64)
    status: str = Field(default=IN_PROGRESS, max_length=20)
    response_status: int | None = None
    response_headers: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSONType, nullable=True)
    )
    response_body: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    locked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
