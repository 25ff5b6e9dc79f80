"""Replies come back: each user's secret inbound address (hashed), and the replies already
recorded, by their own Message-ID.

Revision ID: f1c5e7a9b345
Revises: e0b4d6f8a234
Create Date: 2026-12-06 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = 'f1c5e7a9b345'
down_revision: str | None = 'e0b4d6f8a234'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'inbound_address',
        sa.Column('owner_id', sa.Uuid(), nullable=False),
        sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('owner_id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_table(
        'inbound_message',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('owner_id', sa.Uuid(), nullable=False),
        sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column('interaction_id', sa.Uuid(), nullable=True),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('owner_id', 'message_id'),
    )


def downgrade() -> None:
    op.drop_table('inbound_message')
    op.drop_table('inbound_address')
