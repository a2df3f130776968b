"""api_token, user_account.is_service_account, user_account.oidc_subject

- api_token: bearer tokens of the platform API (personal, service account, CLI sign-in, operator), kept as
  their SHA-256 only, with an expiry and a revocation time.
- user_account.is_service_account: a team's robot user, acting only through tokens.
- user_account.oidc_subject: the OIDC subject a user was matched to, unique when set.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(length=20), nullable=False),
        sa.Column(
            "created_by_id",
            sa.Integer(),
            sa.ForeignKey("user_account.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_api_token_user_id", "api_token", ["user_id"])
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(
            sa.Column("is_service_account", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("oidc_subject", sa.String(length=255), nullable=True))
        batch.create_unique_constraint("uq_user_account_oidc_subject", ["oidc_subject"])
    with op.batch_alter_table("user_account") as batch:
        batch.alter_column("is_service_account", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.drop_constraint("uq_user_account_oidc_subject", type_="unique")
        batch.drop_column("oidc_subject")
        batch.drop_column("is_service_account")
    op.drop_index("ix_api_token_user_id", table_name="api_token")
    op.drop_table("api_token")
