"""Outbound webhooks: subscriptions, the transactional outbox, and the delivery log.

An ``OutboxEvent`` is written in the same transaction as the change it announces; its id is
the Standard Webhooks ``webhook-id``. The dispatcher fans each event out to one
``WebhookDelivery`` per matching subscription and works through those until each one
succeeds or is given up.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StrictBool, StringConstraints
from pydantic import Field as PydanticField
from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.kit.db import JSONType, UTCDateTime, new_id, utcnow
from app.kit.schemas import Whole

# The drop policy: a subscription holds at most this many deliveries still to attempt; the
# events that find it full are not queued for it, only counted (``dropped_events``). Bounds
# what one account can queue (25 subscriptions at most) whatever it imports.
MAX_PENDING_DELIVERIES = 1000


class EventType(StrEnum):
    """The events a subscription can ask for."""

    CONTACT_CREATED = "contact.created"
    CONTACT_UPDATED = "contact.updated"
    REFERRAL_CREATED = "referral.created"
    INTERVIEW_CREATED = "interview.created"
    INTERVIEW_STATE_CHANGED = "interview.state_changed"
    LETTER_SENT = "letter.sent"
    LETTER_DELIVERED = "letter.delivered"
    LETTER_DELIVERY_FAILED = "letter.delivery_failed"
    LETTER_REPLIED = "letter.replied"
    INTERACTION_LOGGED = "interaction.logged"
    INTERACTION_UPDATED = "interaction.updated"


class DeliveryStatus(StrEnum):
    """Where one delivery stands.

    ``pending`` waits for its first attempt, ``failed`` waits for a retry, ``succeeded`` got a
    2xx, ``dead`` was given up (retries exhausted, or the endpoint answered 410 Gone).
    """

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD = "dead"


class WebhookSubscription(SQLModel, table=True):
    """An endpoint of one user that receives the events it subscribed to.

    The HMAC needs the signing secret itself, so it is stored sealed with a key derived from
    the server's secret key (``secret_box``), never in clear. After a rotation the previous
    secret still signs (a second ``v1,`` signature) until ``previous_secret_expires_at``.
    """

    __tablename__ = "webhook_subscription"
    __table_args__ = (Index("ix_webhook_subscription_owner_id_id", "owner_id", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_id: uuid.UUID = Field(foreign_key="user_account.id", ondelete="CASCADE")
    url: str = Field(max_length=2048)
    event_types: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    description: str | None = Field(default=None, max_length=500)
    active: bool = Field(default=True)
    disabled_reason: str | None = Field(default=None, max_length=50)
    secret: str = Field(max_length=255)
    previous_secret: str | None = Field(default=None, max_length=255)
    previous_secret_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Events not queued for this endpoint because it already had the most pending deliveries
    # allowed (see the dispatcher's drop policy).
    dropped_events: int = Field(default=0)
    last_dropped_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OutboxEvent(SQLModel, table=True):
    """One event, committed with the change it announces. ``dispatched_at`` is set once the
    dispatcher has made its deliveries.

    ``payload`` is the exact JSON body sent (``{type, timestamp, data}``), kept as text so
    every attempt sends the same bytes.
    """

    __tablename__ = "outbox_event"
    __table_args__ = (
        Index("ix_outbox_event_dispatched_at_id", "dispatched_at", "id"),
        Index("ix_outbox_event_owner_id", "owner_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_id: uuid.UUID = Field(foreign_key="user_account.id", ondelete="CASCADE")
    type: str = Field(max_length=50)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    dispatched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebhookDelivery(SQLModel, table=True):
    """One event on its way to one subscription, with the outcome of its latest attempt.

    ``locked_until`` is the lease a dispatcher holds while it sends; ``attempts`` counts the
    attempts started and doubles as the fencing token when the result is recorded.
    """

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("event_id", "subscription_id"),
        Index("ix_webhook_delivery_subscription_id_id", "subscription_id", "id"),
        Index("ix_webhook_delivery_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_owner_id", "owner_id"),
        # The dispatcher counts a subscription's pending deliveries, and finds its leased ones.
        Index("ix_webhook_delivery_subscription_id_status", "subscription_id", "status"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_id: uuid.UUID = Field(foreign_key="user_account.id", ondelete="CASCADE")
    subscription_id: uuid.UUID = Field(foreign_key="webhook_subscription.id", ondelete="CASCADE")
    event_id: uuid.UUID = Field(foreign_key="outbox_event.id", ondelete="CASCADE")
    event_type: str = Field(max_length=50)
    status: str = Field(default=DeliveryStatus.PENDING.value, max_length=20)
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = Field(default_factory=utcnow, sa_type=UTCDateTime)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status_code: int | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=1000)
    succeeded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- API shapes -------------------------------------------------------------------------------

WebhookUrl = Annotated[
    str,
    StringConstraints(min_length=1, max_length=2048),
    PydanticField(
        description="Where events are POSTed: an http(s) URL whose host is publicly routable.",
        # Documents the scheme for clients and generators; the service checks the whole URL
        # (and answers invalid_webhook_url rather than a pattern mismatch).
        json_schema_extra={
            "pattern": r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s\u0000-\u001f/?#]+([/?#][^\s\u0000-\u001f]*)?$"
        },
    ),
]
EventTypes = Annotated[list[EventType], PydanticField(min_length=1, max_length=len(EventType))]
Description = Annotated[str, StringConstraints(max_length=500)]


def _omit_defaults(schema: dict[str, Any]) -> None:
    """In a PATCH body an absent field means "leave it"; ``null`` is not its default."""
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


class WebhookCreate(BaseModel):
    """A new subscription to some event types."""

    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl
    event_types: EventTypes
    description: Description | None = None
    active: StrictBool = True


class WebhookUpdate(BaseModel):
    """Changes to a subscription: only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_omit_defaults)

    # Not nullable: an explicit null is a 422, an absent field is left alone. The None default
    # only marks "absent" (the service reads model_dump(exclude_unset=True)).
    url: WebhookUrl = PydanticField(default=None)  # type: ignore[assignment]
    event_types: EventTypes = PydanticField(default=None)  # type: ignore[arg-type]
    active: StrictBool = PydanticField(default=None)  # type: ignore[assignment]
    description: Description | None = None


class WebhookRotateSecret(BaseModel):
    """How long the old secret keeps signing alongside the new one."""

    model_config = ConfigDict(extra="forbid")

    previous_secret_grace_seconds: Annotated[int, Whole(ge=0, le=7 * 86400)] = PydanticField(
        default=86400,
        description="Seconds the old secret keeps signing too; 0 stops it at once (a leak).",
    )


class WebhookPublic(BaseModel):
    """A subscription as its owner sees it. The secret is shown only on create and rotation."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    url: str
    event_types: list[EventType]
    description: str | None
    active: bool
    disabled_reason: str | None = PydanticField(
        description="Why the service turned the subscription off (`endpoint_gone` after a 410)."
    )
    previous_secret_expires_at: datetime | None = PydanticField(
        description="Until when the secret before the last rotation still signs too."
    )
    dropped_events: int = PydanticField(
        description=(
            "Events never queued for this endpoint because it already had the most pending "
            f"deliveries allowed ({MAX_PENDING_DELIVERIES:,}): list your data to catch up on "
            "what they announced."
        )
    )
    last_dropped_at: datetime | None = PydanticField(
        description="When an event was last dropped for a full queue."
    )
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(WebhookPublic):
    """A subscription with its signing secret: the only time the secret is shown."""

    secret: str = PydanticField(
        description="`whsec_` + base64; verify with `standardwebhooks.Webhook(secret).verify`."
    )


class WebhookDeliveryPublic(BaseModel):
    """One event's delivery to one subscription, with its latest attempt."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    subscription_id: uuid.UUID
    event_id: uuid.UUID = PydanticField(description="The `webhook-id` header the receiver saw.")
    event_type: EventType
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    succeeded_at: datetime | None
    created_at: datetime
    updated_at: datetime
