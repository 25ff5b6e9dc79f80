"""Every statement the webhooks domain sends to the database.

Subscriptions are read and written for their owner only. The outbox and the delivery log are
also worked by the dispatcher, across owners: it takes its rows ``FOR UPDATE SKIP LOCKED`` and
fences every write with a lease or an attempt number, so concurrent workers never collide.
Nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Table, delete, exists, func, or_, select, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from app.kit.queries import compare_and_delete, compare_and_set, get_owned, keyset_page, owned
from app.webhooks.schemas import DeliveryStatus, OutboxEvent, WebhookDelivery, WebhookSubscription

# Deliveries still to be attempted: never sent yet, or failed with a retry scheduled.
DUE_STATUSES = (DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value)

OUTBOX: Table = OutboxEvent.__table__  # type: ignore[attr-defined]
DELIVERIES: Table = WebhookDelivery.__table__  # type: ignore[attr-defined]


class SubscriptionRepository:
    """Webhook subscriptions: the owner's reads and versioned writes, and the active ones a
    dispatcher fans events out to."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, owner_id: uuid.UUID, webhook_id: uuid.UUID) -> WebhookSubscription:
        """The owner's subscription, or a 404 ``webhook_not_found``."""
        return get_owned(self.session, WebhookSubscription, webhook_id, owner_id, what="webhook")

    def page(
        self, owner_id: uuid.UUID, *, limit: int, cursor: str | None
    ) -> tuple[Sequence[WebhookSubscription], bool, str | None]:
        """One page of the owner's subscriptions, newest first."""
        statement = owned(WebhookSubscription, owner_id)
        return keyset_page(
            self.session,
            statement,
            col(WebhookSubscription.id),
            owner_id=owner_id,
            limit=limit,
            cursor=cursor,
        )

    def count(self, owner_id: uuid.UUID) -> int:
        """How many subscriptions the owner has."""
        count: int = self.session.exec(
            select(func.count())
            .select_from(WebhookSubscription)
            .where(col(WebhookSubscription.owner_id) == owner_id)  # type: ignore[call-overload]
        ).one()[0]
        return count

    def add(self, subscription: WebhookSubscription) -> None:
        """Add a new subscription to the session; it is written at the next flush or commit."""
        self.session.add(subscription)

    def refresh(self, subscription: WebhookSubscription) -> None:
        """Read the row again into ``subscription``."""
        self.session.refresh(subscription)

    def compare_and_set(self, webhook_id: uuid.UUID, version: int, **values: Any) -> None:
        """Write ``values`` and the next version if the row is still at ``version``, else
        :class:`~app.kit.queries.LostRace`."""
        compare_and_set(self.session, WebhookSubscription, webhook_id, version, **values)

    def compare_and_delete(self, webhook_id: uuid.UUID, version: int) -> None:
        """Delete the row (its delivery log goes by ON DELETE CASCADE) if still at ``version``,
        else :class:`~app.kit.queries.LostRace`."""
        compare_and_delete(self.session, WebhookSubscription, webhook_id, version)

    def active_of(self, owners: Collection[uuid.UUID]) -> Sequence[WebhookSubscription]:
        """The active subscriptions of these owners."""
        return self.session.scalars(
            select(WebhookSubscription)
            .where(col(WebhookSubscription.owner_id).in_(owners))
            .where(col(WebhookSubscription.active).is_(True))
        ).all()

    def count_dropped(self, webhook_id: uuid.UUID, dropped: int, now: datetime) -> None:
        """Add ``dropped`` to the events the subscription missed because its queue was full.

        Not a change the owner made: the version (and so the ETag an ``If-Match`` is checked
        against) stays as it is.
        """
        s = WebhookSubscription
        self.session.execute(
            update(s)
            .where(col(s.id) == webhook_id)
            .values(dropped_events=col(s.dropped_events) + dropped, last_dropped_at=now)
            .execution_options(synchronize_session=False)
        )

    def deactivate(self, webhook_id: uuid.UUID, reason: str, now: datetime) -> None:
        """Switch an active subscription off with ``reason``, bumping its version; one that is
        already inactive is left alone."""
        s = WebhookSubscription
        self.session.execute(
            update(s)
            .where(col(s.id) == webhook_id, col(s.active).is_(True))
            .values(
                active=False,
                disabled_reason=reason,
                version=col(s.version) + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )


class OutboxRepository:
    """The outbox: events written in the caller's transaction, taken by the dispatcher."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def insert(self, values: dict[str, Any]) -> None:
        """Insert one event row through Core, in the session's transaction."""
        self.session.connection().execute(OUTBOX.insert(), values)

    def undispatched(self, limit: int) -> Sequence[Row[uuid.UUID, uuid.UUID, str, datetime]]:
        """Up to ``limit`` events not yet fanned out, oldest first, locked for this worker
        (rows another worker holds are skipped): ``(id, owner_id, type, created_at)``, without
        the payload, which fanning out does not need."""
        e = OutboxEvent
        return self.session.execute(
            select(col(e.id), col(e.owner_id), col(e.type), col(e.created_at))
            .where(col(e.dispatched_at).is_(None))
            .order_by(col(e.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()

    def mark_dispatched(self, event_ids: Collection[uuid.UUID], now: datetime) -> None:
        """Record that these events have been fanned out."""
        e = OutboxEvent
        self.session.execute(
            update(e)
            .where(col(e.id).in_(event_ids))
            .values(dispatched_at=now)
            .execution_options(synchronize_session=False)
        )

    def purge_delivered(self, cutoff: datetime) -> None:
        """Delete the events fanned out before ``cutoff`` that have no delivery still due (their
        delivery log goes with them, by ON DELETE CASCADE)."""
        d, e = WebhookDelivery, OutboxEvent
        unfinished = exists().where(col(d.event_id) == col(e.id), col(d.status).in_(DUE_STATUSES))
        self.session.execute(
            delete(e)
            .where(col(e.dispatched_at).is_not(None), col(e.created_at) < cutoff)
            .where(~unfinished)
            .execution_options(synchronize_session=False)
        )


class DeliveryRepository:
    """The delivery log: the owner's reads and redeliveries, and the dispatcher's leases and
    outcomes."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def find(self, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        """The delivery with this id, whoever it belongs to; ``None`` if there is none."""
        return self.session.get(WebhookDelivery, delivery_id)

    def refresh(self, delivery: WebhookDelivery) -> None:
        """Read the row again into ``delivery``."""
        self.session.refresh(delivery)

    def page(
        self,
        owner_id: uuid.UUID,
        webhook_id: uuid.UUID,
        *,
        limit: int,
        cursor: str | None,
        status: DeliveryStatus | None,
    ) -> tuple[Sequence[WebhookDelivery], bool, str | None]:
        """One page of a subscription's deliveries, newest first, optionally of one status."""
        statement = owned(WebhookDelivery, owner_id).where(
            col(WebhookDelivery.subscription_id) == webhook_id
        )
        if status is not None:
            statement = statement.where(col(WebhookDelivery.status) == status.value)
        return keyset_page(
            self.session,
            statement,
            col(WebhookDelivery.id),
            owner_id=owner_id,
            limit=limit,
            cursor=cursor,
        )

    def reschedule_now(self, delivery_id: uuid.UUID, now: datetime) -> bool:
        """Make the delivery pending and due at ``now``, unless a worker holds a live lease on
        it; whether it was rescheduled."""
        result = self.session.execute(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id) == delivery_id)
            .where(
                or_(
                    col(WebhookDelivery.locked_until).is_(None),
                    col(WebhookDelivery.locked_until) <= now,
                )
            )
            .values(
                status=DeliveryStatus.PENDING.value,
                next_attempt_at=now,
                locked_until=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def insert_many(self, rows: list[dict[str, Any]]) -> None:
        """Insert new deliveries through Core, in one batch."""
        if rows:
            self.session.connection().execute(DELIVERIES.insert(), rows)

    def pending_counts(self, subscription_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, int]:
        """How many deliveries each of these subscriptions still has to attempt."""
        d = WebhookDelivery
        rows = self.session.execute(
            select(col(d.subscription_id), func.count())
            .where(col(d.subscription_id).in_(subscription_ids), col(d.status).in_(DUE_STATUSES))
            .group_by(col(d.subscription_id))
        ).all()
        return {row[0]: int(row[1]) for row in rows}

    def due_ids(self, now: datetime, limit: int) -> list[uuid.UUID]:
        """Up to ``limit`` deliveries due at ``now``, fairly: locked for this worker (rows
        another worker holds are skipped).

        At most one per subscription, and none of a subscription that has a delivery in flight
        (leased), so a slow or failing endpoint holds one sending slot at most; each
        subscription offers its soonest due delivery. Owners take turns: every owner's first
        subscription before anyone's second, so a busy account cannot crowd the others out.
        """
        d, s = WebhookDelivery, WebhookSubscription
        in_flight = aliased(WebhookDelivery)
        busy = exists().where(
            col(in_flight.subscription_id) == col(d.subscription_id),
            col(in_flight.status).in_(DUE_STATUSES),
            col(in_flight.locked_until) > now,
        )
        heads = (
            select(
                col(d.id).label("id"),
                col(d.owner_id).label("owner_id"),
                col(d.next_attempt_at).label("next_attempt_at"),
                func.row_number()
                .over(
                    partition_by=col(d.subscription_id),
                    order_by=(col(d.next_attempt_at), col(d.id)),
                )
                .label("place"),
            )
            .join(s, col(s.id) == col(d.subscription_id))
            .where(*_due(now), col(s.active).is_(True), ~busy)
            .subquery("heads")
        )
        turns = (
            select(
                heads.c.id,
                heads.c.next_attempt_at,
                func.row_number()
                .over(
                    partition_by=heads.c.owner_id,
                    order_by=(heads.c.next_attempt_at, heads.c.id),
                )
                .label("turn"),
            )
            .where(heads.c.place == 1)
            .subquery("turns")
        )
        chosen = (
            select(turns.c.id)
            .order_by(turns.c.turn, turns.c.next_attempt_at, turns.c.id)
            .limit(limit)
        )
        candidates = self.session.execute(
            select(col(d.id)).where(col(d.id).in_(chosen)).with_for_update(skip_locked=True, of=d)
        ).all()
        return [row[0] for row in candidates]

    def lease(self, ids: list[uuid.UUID], now: datetime, until: datetime) -> dict[uuid.UUID, int]:
        """Lease those of ``ids`` still due at ``now`` until ``until`` and count their attempt;
        the attempt number of each delivery leased, by id."""
        d = WebhookDelivery
        claimed = self.session.execute(
            update(d)
            .where(col(d.id).in_(ids), *_due(now))
            .values(locked_until=until, attempts=col(d.attempts) + 1)
            .returning(col(d.id), col(d.attempts))
            .execution_options(synchronize_session=False)
        ).all()
        return {row[0]: row[1] for row in claimed}

    def to_send(self, ids: list[uuid.UUID]) -> Sequence[Row[*tuple[Any, ...]]]:
        """What sending these deliveries takes, soonest first: ``(id, event_id,
        subscription_id, url, secret, previous_secret, previous_secret_expires_at,
        payload)``, the secrets as stored (sealed)."""
        d, s, e = WebhookDelivery, WebhookSubscription, OutboxEvent
        return self.session.execute(
            select(
                col(d.id),
                col(d.event_id),
                col(d.subscription_id),
                col(s.url),
                col(s.secret),
                col(s.previous_secret),
                col(s.previous_secret_expires_at),
                col(e.payload),
            )
            .join(s, col(s.id) == col(d.subscription_id))
            .join(e, col(e.id) == col(d.event_id))
            .where(col(d.id).in_(ids))
            .order_by(col(d.next_attempt_at), col(d.id))
        ).all()

    def record_attempt(self, delivery_id: uuid.UUID, attempt: int, values: dict[str, Any]) -> bool:
        """Write ``values`` if the delivery is still at attempt number ``attempt`` (the lease
        was not lost to another worker); whether it was written."""
        d = WebhookDelivery
        result = self.session.execute(
            update(d)
            .where(col(d.id) == delivery_id, col(d.attempts) == attempt)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _due(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """The conditions of a delivery due at ``now``: to attempt, its time come, not leased."""
    d = WebhookDelivery
    return (
        col(d.status).in_(DUE_STATUSES),
        col(d.next_attempt_at) <= now,
        or_(col(d.locked_until).is_(None), col(d.locked_until) <= now),
    )
