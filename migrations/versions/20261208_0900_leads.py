"""Leads: a referral remembers the interview at which its referrer suggested the contact.

Revision ID: b3e7a9c1d567
Revises: a2d6f8b0c456
Create Date: 2026-12-08 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b3e7a9c1d567"
down_revision: str | None = "a2d6f8b0c456"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Null for every referral recorded so far: none of them said where it was suggested.
    # Deleting the interview keeps the referral and forgets where it came from.
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.add_column(sa.Column("interview_id", sa.Uuid(), nullable=True))
        batch_op.create_index("ix_referral_interview_id", ["interview_id"], unique=False)
        batch_op.create_foreign_key(
            op.f("fk_referral_interview_id_interview"),
            "interview",
            ["interview_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_referral_interview_id_interview"), type_="foreignkey")
        batch_op.drop_index("ix_referral_interview_id")
        batch_op.drop_column("interview_id")
