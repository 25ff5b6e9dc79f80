"""Letter templates: a user's own template for a kind of letter, one per kind.

Revision ID: b0f5178429ef
Revises: 1bcff7765455
Create Date: 2026-11-26 01:56:08.448900
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'b0f5178429ef'
down_revision: str | None = '1bcff7765455'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('letter_template',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('owner_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('source', sa.String(length=20000), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'], name=op.f('fk_letter_template_owner_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_letter_template')),
    sa.UniqueConstraint('owner_id', 'kind', name=op.f('uq_letter_template_owner_id_kind'))
    )


def downgrade() -> None:
    op.drop_table('letter_template')
