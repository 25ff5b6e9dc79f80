"""Insights: the indexes the funnel and courtesy figures read.

The figures read the interviews a user asked for within a period from one index that holds every
column they need (their group, state and state times: never the table's rows), and when each
held interview's thank-you and report-back letters went to whom (from the index alone too).

Revision ID: d5a9c1e3f789
Revises: c4f8b0d2e678
Create Date: 2026-12-08 09:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "d5a9c1e3f789"
down_revision: str | None = "c4f8b0d2e678"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES: tuple[tuple[str, str, list[str]], ...] = (
    (
        "ix_interview_figures",
        "interview",
        [
            "owner_id",
            "requested_at",
            "state",
            "prepared_at",
            "held_at",
            "thanked_at",
            "reported_back_at",
            "contact_id",
            "id",
            "mode",
            "referral_id",
            "career_field",
        ],
    ),
    (
        "ix_letter_interview_id_kind_status_recipient_id_sent_at",
        "letter",
        ["interview_id", "kind", "status", "recipient_id", "sent_at"],
    ),
)


def upgrade() -> None:
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
