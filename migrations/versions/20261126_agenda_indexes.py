"""Agenda indexes: each kind of due action is an index range scan on the owner's rows.

- interview (owner_id, state, held_at): held interviews by held time (thank);
- interview (owner_id, state, thanked_at): thanked interviews by thanked time (report back);
- interview (owner_id, state, scheduled_at, contact_id, id): requests without a time, read
  from the index alone (follow up), and interviews about to happen (prepare);
- contact (owner_id, keep_in_touch_days, archived, last_contacted_at, created_at, id): the
  contacts with a cadence and everything their due time needs, read from the index alone
  (keep in touch).

Revision ID: 7d3e41a9c2b8
Revises: b0f5178429ef
Create Date: 2026-11-26 02:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '7d3e41a9c2b8'
down_revision: str | None = 'b0f5178429ef'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        'ix_interview_owner_id_state_held_at', 'interview', ['owner_id', 'state', 'held_at']
    )
    op.create_index(
        'ix_interview_owner_id_state_thanked_at', 'interview', ['owner_id', 'state', 'thanked_at']
    )
    op.create_index(
        'ix_interview_owner_id_state_scheduled_at_contact_id_id',
        'interview',
        ['owner_id', 'state', 'scheduled_at', 'contact_id', 'id'],
    )
    op.create_index(
        'ix_contact_keep_in_touch_due',
        'contact',
        ['owner_id', 'keep_in_touch_days', 'archived', 'last_contacted_at', 'created_at', 'id'],
    )


def downgrade() -> None:
    op.drop_index('ix_contact_keep_in_touch_due', table_name='contact')
    op.drop_index('ix_interview_owner_id_state_scheduled_at_contact_id_id', table_name='interview')
    op.drop_index('ix_interview_owner_id_state_thanked_at', table_name='interview')
    op.drop_index('ix_interview_owner_id_state_held_at', table_name='interview')
