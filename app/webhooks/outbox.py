"""The transactional outbox: events are written with the change they announce.

``emit`` only adds a row to the caller's session. The caller's own commit makes the change
and its event durable together, so an event is never lost to a crash after the commit and
never sent for a change that was rolled back. The dispatcher (``app.webhooks.dispatcher``)
delivers it later.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from sqlalchemy import Table
from sqlmodel import Session

from app.kit.db import new_id, utcnow
from app.webhooks.repository import OUTBOX, OutboxRepository
from app.webhooks.schemas import EventType


def render_payload(event_type: str, timestamp: str, data: Any) -> str:
    """The Standard Webhooks body ``{type, timestamp, data}``, as compact JSON text."""
    body = {"type": event_type, "timestamp": timestamp, "data": data}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def event_row(
    owner_id: uuid.UUID, event_type: EventType | str, data: BaseModel | Mapping[str, Any]
) -> tuple[Table, dict[str, Any]]:
    """An event as the outbox row to insert with the change it announces: (table, values).

    ``data`` is the public representation of the resource (a ``XPublic`` model or a mapping);
    it is frozen as JSON now, so later changes to the row do not alter what is sent. For
    writes made as a :class:`~app.kit.unit_of_work.UnitOfWork`.
    """
    kind = EventType(event_type)
    if isinstance(data, BaseModel):
        plain = data.model_dump(mode="json")
    else:
        plain = to_jsonable_python(dict(data))
    now = utcnow()
    return OUTBOX, {
        "id": new_id(),
        "owner_id": owner_id,
        "type": kind.value,
        "payload": render_payload(kind.value, now.isoformat().replace("+00:00", "Z"), plain),
        "created_at": now,
        "dispatched_at": None,
    }


def emit(
    session: Session,
    owner_id: uuid.UUID,
    event_type: EventType | str,
    data: BaseModel | Mapping[str, Any],
) -> uuid.UUID:
    """Write an event in the caller's transaction, to be committed with the caller's change.

    ``data`` is the public representation of the resource (a ``XPublic`` model or a mapping);
    it is frozen as JSON now, so later changes to the row do not alter what is sent.
    Does not commit. Returns the event's id.
    """
    _, row = event_row(owner_id, event_type, data)
    OutboxRepository(session).insert(row)
    event_id: uuid.UUID = row["id"]
    return event_id
