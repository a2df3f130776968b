"""Prediction logs: a serving's logging share and cap, and the collection's cursor per serving.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-21 12:00:00
"""

import sqlalchemy as sa
from alembic import op

from catalog.models.base import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("serving") as batch:
        batch.add_column(sa.Column("log_rate", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("log_per_minute", sa.Integer(), nullable=False, server_default="6000"))
    op.create_table(
        "prediction_log_cursor",
        sa.Column("serving_id", sa.Integer(), sa.ForeignKey("serving.id"), primary_key=True),
        sa.Column("instance", sa.String(length=200), nullable=False),
        sa.Column("after", sa.BigInteger(), nullable=False),
        sa.Column("collected", sa.BigInteger(), nullable=False),
        sa.Column("batches", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("prediction_log_cursor")
    with op.batch_alter_table("serving") as batch:
        for column in ("log_per_minute", "log_rate"):
            batch.drop_column(column)
