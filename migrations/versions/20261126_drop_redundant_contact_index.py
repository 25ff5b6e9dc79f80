"""Drop ix_contact_owner_id_keep_in_touch_days: a prefix of ix_contact_keep_in_touch_due.

Every query the two-column index could serve, the agenda's six-column index serves too; the
shorter one only cost every contact insert and update one more index page to write.

Revision ID: 9b2e6d1f4a70
Revises: 5c1f0e7a9d24
Create Date: 2026-11-26 09:50:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '9b2e6d1f4a70'
down_revision: str | None = '5c1f0e7a9d24'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index('ix_contact_owner_id_keep_in_touch_days', table_name='contact')


def downgrade() -> None:
    op.create_index(
        'ix_contact_owner_id_keep_in_touch_days', 'contact', ['owner_id', 'keep_in_touch_days']
    )
