"""Follow-up index: the owner's sent letters by send time.

The follow-up agenda query now walks the owner's sent letters oldest first and stops after
``limit + 1`` interviews still waiting for an answer, instead of grouping every request
interview's letters and sorting them all.

Revision ID: 5c1f0e7a9d24
Revises: 7d3e41a9c2b8
Create Date: 2026-11-26 05:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '5c1f0e7a9d24'
down_revision: str | None = '7d3e41a9c2b8'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        'ix_letter_owner_id_status_sent_at', 'letter', ['owner_id', 'status', 'sent_at']
    )


def downgrade() -> None:
    op.drop_index('ix_letter_owner_id_status_sent_at', table_name='letter')
