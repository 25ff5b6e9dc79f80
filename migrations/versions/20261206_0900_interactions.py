"""Interactions: calls, voicemails, meetings, messages and replies logged against a contact
and, optionally, an interview.

Revision ID: b7e1a3c5d901
Revises: 8c4d1b6e2a93
Create Date: 2026-12-06 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = 'b7e1a3c5d901'
down_revision: str | None = '8c4d1b6e2a93'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
