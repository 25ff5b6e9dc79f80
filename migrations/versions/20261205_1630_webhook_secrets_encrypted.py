"""Webhook signing secrets sealed at rest (AES-256-GCM, key derived from the server's secret).

Existing plain secrets are sealed on the way up and opened again on the way down, with the
secret key of the server that runs the migration (``infoview migrate`` reads the same settings
as ``infoview serve``). The sealing is written out here rather than imported, so this step keeps
doing what it did whatever ``app.webhooks.secret_box`` later becomes; the two write the same
``v1:`` form.

Revision ID: 3e8a5c2d7f14
Revises: 9b2e6d1f4a70
Create Date: 2026-12-05 16:30:00.000000
"""

import base64
import os
import uuid
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import context, op
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

revision: str = '3e8a5c2d7f14'
down_revision: str | None = '9b2e6d1f4a70'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREFIX = "v1:"
INFO = b"infoview webhook signing secrets v1"

subscriptions = sa.table(
    "webhook_subscription",
    sa.column("id", sa.Uuid()),
    sa.column("secret", sa.String()),
    sa.column("previous_secret", sa.String()),
)


def _cipher() -> AESGCM:
    # Tests (and tools) may hand the key in; otherwise the settings `infoview migrate` runs with.
    server_secret = context.config.attributes.get("secret_key")
    if not server_secret:
        from app.kit.config import get_settings

        server_secret = get_settings().secret_key
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(
        server_secret.encode()
    )
    return AESGCM(key)


def _rewrite(change: Callable[[AESGCM, uuid.UUID, str], str]) -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(subscriptions.c.id, subscriptions.c.secret, subscriptions.c.previous_secret)
    ).all()
    if not rows:
        return
    cipher = _cipher()
    for row_id, secret, previous in rows:
        connection.execute(
            subscriptions.update()
            .where(subscriptions.c.id == row_id)
            .values(
                secret=change(cipher, row_id, secret),
                previous_secret=change(cipher, row_id, previous) if previous else None,
            )
        )


def _seal(cipher: AESGCM, row_id: uuid.UUID, value: str) -> str:
    if value.startswith(PREFIX):
        return value
    nonce = os.urandom(12)
    sealed = cipher.encrypt(nonce, value.encode(), row_id.bytes)
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def _open(cipher: AESGCM, row_id: uuid.UUID, value: str) -> str:
    if not value.startswith(PREFIX):
        return value
    raw = base64.urlsafe_b64decode(value[len(PREFIX):])
    return cipher.decrypt(raw[:12], raw[12:], row_id.bytes).decode()


def upgrade() -> None:
    with op.batch_alter_table('webhook_subscription', schema=None) as batch_op:
        batch_op.alter_column('secret', existing_type=sa.String(length=100), type_=sa.String(length=255), existing_nullable=False)
        batch_op.alter_column('previous_secret', existing_type=sa.String(length=100), type_=sa.String(length=255), existing_nullable=True)
    _rewrite(_seal)


def downgrade() -> None:
    _rewrite(_open)
    with op.batch_alter_table('webhook_subscription', schema=None) as batch_op:
        batch_op.alter_column('secret', existing_type=sa.String(length=255), type_=sa.String(length=100), existing_nullable=False)
        batch_op.alter_column('previous_secret', existing_type=sa.String(length=255), type_=sa.String(length=100), existing_nullable=True)
