"""Search: full-text indexes over contacts, interviews and letters.

Revision ID: c4f8b0d2e678
Revises: b3e7a9c1d567
Create Date: 2026-12-08 09:10:00.000000
"""

from collections.abc import Sequence

revision: str = "c4f8b0d2e678"
down_revision: str | None = "b3e7a9c1d567"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
