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
from sqlmodel import Session

from app.kit.db import new_id, utcnow
from app.webhooks.repository import OutboxRepository
from app.webhooks.schemas import EventType


def render_payload(event_type: str, timestamp: str, data: Any) -> str:
    """The Standard Webhooks body ``{type, timestamp, data}``, as compact JSON text."""
    body = {"type": event_type, "timestamp": timestamp, "data": data}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


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
    kind = EventType(event_type)
    if isinstance(data, BaseModel):
        plain = data.model_dump(mode="json")
    else:
        plain = to_jsonable_python(dict(data))
    now = utcnow()
    event_id = new_id()
    OutboxRepository(session).insert(
        {
            "id": event_id,
            "owner_id": owner_id,
            "type": kind.value,
            "payload": render_payload(kind.value, now.isoformat().replace("+00:00", "Z"), plain),
            "created_at": now,
            "dispatched_at": None,
        },
    )
    return event_id
