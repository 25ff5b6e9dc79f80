"""Webhook queues are capped: dropped events are counted on the subscription, and the
dispatcher finds a subscription's pending and in-flight deliveries by index.

Revision ID: 8c4d1b6e2a93
Revises: 6f0c9a2e4b71
Create Date: 2026-12-05 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '8c4d1b6e2a93'
down_revision: str | None = '6f0c9a2e4b71'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('webhook_subscription', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dropped_events', sa.Integer(), nullable=False, server_default=sa.text('0')))
        batch_op.add_column(sa.Column('last_dropped_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_delivery_subscription_id_status', ['subscription_id', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_delivery_subscription_id_status')

    with op.batch_alter_table('webhook_subscription', schema=None) as batch_op:
        batch_op.drop_column('last_dropped_at')
        batch_op.drop_column('dropped_events')
