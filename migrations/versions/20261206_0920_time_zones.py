"""Time zones: the user's and, optionally, each contact's (IANA names).

Revision ID: d9a3c5e7f123
Revises: c8f2b4d6e012
Create Date: 2026-12-06 09:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = 'd9a3c5e7f123'
down_revision: str | None = 'c8f2b4d6e012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing accounts read times in UTC, as they did before zones existed.
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('time_zone', sa.String(length=64), nullable=False, server_default='UTC')
        )

    # Null: the contact's zone is not known, and letters to them use the user's.
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_column('time_zone')

    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('time_zone')
