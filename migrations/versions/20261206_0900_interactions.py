"""Interactions: calls, voicemails, meetings, messages and replies logged against a contact
and, optionally, an interview.

Revision ID: b7e1a3c5d901
Revises: 8c4d1b6e2a93
Create Date: 2026-12-06 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'b7e1a3c5d901'
down_revision: str | None = '8c4d1b6e2a93'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "interaction",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("interview_id", sa.Uuid(), nullable=True),
        sa.Column("letter_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notes", sa.String(length=20000), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contact.id"], name=op.f("fk_interaction_contact_id_contact")
        ),
        sa.ForeignKeyConstraint(
            ["interview_id"],
            ["interview.id"],
            name=op.f("fk_interaction_interview_id_interview"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["letter_id"],
            ["letter.id"],
            name=op.f("fk_interaction_letter_id_letter"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["user_account.id"],
            name=op.f("fk_interaction_owner_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interaction")),
    )
    with op.batch_alter_table("interaction", schema=None) as batch_op:
        batch_op.create_index(
            "ix_interaction_contact_id_occurred_at", ["contact_id", "occurred_at"], unique=False
        )
        batch_op.create_index(
            "ix_interaction_interview_id_occurred_at", ["interview_id", "occurred_at"], unique=False
        )
        batch_op.create_index("ix_interaction_letter_id", ["letter_id"], unique=False)
        batch_op.create_index("ix_interaction_owner_id_id", ["owner_id", "id"], unique=False)
        batch_op.create_index(
            "ix_interaction_owner_id_occurred_at", ["owner_id", "occurred_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("interaction", schema=None) as batch_op:
        batch_op.drop_index("ix_interaction_owner_id_occurred_at")
        batch_op.drop_index("ix_interaction_owner_id_id")
        batch_op.drop_index("ix_interaction_letter_id")
        batch_op.drop_index("ix_interaction_interview_id_occurred_at")
        batch_op.drop_index("ix_interaction_contact_id_occurred_at")

    op.drop_table("interaction")
