"""Idempotency records keep only successes, and never a secret or a body over 64 KiB.

What earlier versions kept and the API no longer replays goes on the way up: a refused or
failed answer is deleted (its key is free again, as a failure leaves it now); a success that
carried a secret (a webhook's signing secret) or a body over 64 KiB is kept as done without
its body. On the way down the records without a body go: earlier versions cannot answer them.

Revision ID: 6f0c9a2e4b71
Revises: 3e8a5c2d7f14
Create Date: 2026-12-05 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '6f0c9a2e4b71'
down_revision: str | None = '3e8a5c2d7f14'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out rather than imported, so this step keeps doing what it did.
MAX_STORED_BODY = 64 * 1024
SECRET_PATHS = ('/api/v1/webhooks', '/api/v1/tokens', '/api/v1/calendar/token')
SECRET_PATH_PATTERN = '/api/v1/webhooks/%/rotate-secret'

record = sa.table(
    'idempotency_record',
    sa.column('status', sa.String),
    sa.column('method', sa.String),
    sa.column('path', sa.String),
    sa.column('response_status', sa.Integer),
    sa.column('response_body', sa.LargeBinary),
)


def upgrade() -> None:
    done = record.c.status == 'done'
    op.execute(
        record.delete().where(
            done,
            sa.or_(
                record.c.response_status.is_(None),
                record.c.response_status < 200,
                record.c.response_status >= 300,
            ),
        )
    )
    op.execute(
        record.update()
        .where(
            done,
            record.c.method == 'POST',
            sa.or_(
                record.c.path.in_(SECRET_PATHS), record.c.path.like(SECRET_PATH_PATTERN)
            ),
        )
        .values(status='done_secret', response_body=None)
    )
    op.execute(
        record.update()
        .where(done, sa.func.length(record.c.response_body) > MAX_STORED_BODY)
        .values(status='done_too_large', response_body=None)
    )


def downgrade() -> None:
    op.execute(
        record.delete().where(record.c.status.in_(('done_secret', 'done_too_large')))
    )
