"""Insights: the indexes the funnel and courtesy figures read.

Revision ID: d5a9c1e3f789
Revises: c4f8b0d2e678
Create Date: 2026-12-08 09:20:00.000000
"""

from collections.abc import Sequence

revision: str = "d5a9c1e3f789"
down_revision: str | None = "c4f8b0d2e678"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
