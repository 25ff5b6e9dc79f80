"""Apps act for users through OAuth 2.0: registered apps, what each user granted them, and
the authorization codes and tokens in between (secrets kept as hashes).

Revision ID: a2d6f8b0c456
Revises: f1c5e7a9b345
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a2d6f8b0c456"
down_revision: str | None = "f1c5e7a9b345"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oauth_client",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "redirect_uris",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "scopes", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["user_account.id"],
            name=op.f("fk_oauth_client_owner_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_client")),
        sa.UniqueConstraint("client_id", name=op.f("uq_oauth_client_client_id")),
    )
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.create_index("ix_oauth_client_owner_id_id", ["owner_id", "id"], unique=False)

    op.create_table(
        "oauth_authorization",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("client_pk", sa.Uuid(), nullable=False),
        sa.Column(
            "scopes", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_pk"],
            ["oauth_client.id"],
            name=op.f("fk_oauth_authorization_client_pk_oauth_client"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["user_account.id"],
            name=op.f("fk_oauth_authorization_owner_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_authorization")),
        sa.UniqueConstraint(
            "owner_id", "client_pk", name=op.f("uq_oauth_authorization_owner_id_client_pk")
        ),
    )
    with op.batch_alter_table("oauth_authorization", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oauth_authorization_client_pk"), ["client_pk"], unique=False
        )
        batch_op.create_index(
            "ix_oauth_authorization_owner_id_id", ["owner_id", "id"], unique=False
        )

    op.create_table(
        "oauth_code",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("authorization_id", sa.Uuid(), nullable=False),
        sa.Column("redirect_uri", sa.String(length=2000), nullable=False),
        sa.Column(
            "scopes", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("code_challenge", sa.String(length=128), nullable=True),
        sa.Column("code_challenge_method", sa.String(length=10), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["oauth_authorization.id"],
            name=op.f("fk_oauth_code_authorization_id_oauth_authorization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_code")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_oauth_code_code_hash")),
    )
    with op.batch_alter_table("oauth_code", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oauth_code_authorization_id"), ["authorization_id"], unique=False
        )

    op.create_table(
        "oauth_token",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("authorization_id", sa.Uuid(), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("access_hash", sa.String(length=64), nullable=False),
        sa.Column("refresh_hash", sa.String(length=64), nullable=True),
        sa.Column(
            "scopes", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("access_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refresh_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["oauth_authorization.id"],
            name=op.f("fk_oauth_token_authorization_id_oauth_authorization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_token")),
        sa.UniqueConstraint("access_hash", name=op.f("uq_oauth_token_access_hash")),
        sa.UniqueConstraint("refresh_hash", name=op.f("uq_oauth_token_refresh_hash")),
    )
    with op.batch_alter_table("oauth_token", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oauth_token_authorization_id"), ["authorization_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_oauth_token_family_id"), ["family_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oauth_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_token_family_id"))
        batch_op.drop_index(batch_op.f("ix_oauth_token_authorization_id"))

    op.drop_table("oauth_token")
    with op.batch_alter_table("oauth_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_code_authorization_id"))

    op.drop_table("oauth_code")
    with op.batch_alter_table("oauth_authorization", schema=None) as batch_op:
        batch_op.drop_index("ix_oauth_authorization_owner_id_id")
        batch_op.drop_index(batch_op.f("ix_oauth_authorization_client_pk"))

    op.drop_table("oauth_authorization")
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.drop_index("ix_oauth_client_owner_id_id")

    op.drop_table("oauth_client")
