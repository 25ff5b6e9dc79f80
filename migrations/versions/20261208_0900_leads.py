"""Leads: a referral remembers the interview at which its referrer suggested the contact.

Revision ID: b3e7a9c1d567
Revises: a2d6f8b0c456
Create Date: 2026-12-08 09:00:00.000000
"""

from collections.abc import Sequence

revision: str = "b3e7a9c1d567"
down_revision: str | None = "a2d6f8b0c456"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
