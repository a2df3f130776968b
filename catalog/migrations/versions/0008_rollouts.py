"""Gray releases: a serving's traffic (canary version and weight, shadow, routing header), roll-outs and their
decisions.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-14 12:00:00
"""

import sqlalchemy as sa
from alembic import op

from catalog.models.base import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ACTIVE = sa.text("status IN ('running', 'paused')")


def upgrade() -> None:
    with op.batch_alter_table("serving") as batch:
        batch.add_column(sa.Column("canary_version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("canary_weight", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("shadow_version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("routing_header", sa.String(length=64), nullable=True))
    op.create_table(
        "rollout",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("team_id", sa.Integer(), sa.ForeignKey("team.id"), nullable=False),
        sa.Column("serving_id", sa.Integer(), sa.ForeignKey("serving.id"), nullable=False),
        sa.Column("model_id", sa.Integer(), sa.ForeignKey("model.id"), nullable=False),
        sa.Column("stable_version", sa.Integer(), nullable=False),
        sa.Column("canary_version", sa.Integer(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("dwell_seconds", sa.Float(), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=4000), nullable=False),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("user_account.id"), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
    )
    for column in ("team_id", "serving_id", "model_id", "status"):
        op.create_index(f"ix_rollout_{column}", "rollout", [column])
    op.create_index(
        "uq_rollout_active_serving",
        "rollout",
        ["serving_id"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )
    op.create_table(
        "rollout_decision",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("rollout_id", sa.Integer(), sa.ForeignKey("rollout.id"), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=4000), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("user_account.id"), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_rollout_decision_rollout_id", "rollout_decision", ["rollout_id"])


def downgrade() -> None:
    op.drop_table("rollout_decision")
    op.drop_table("rollout")
    with op.batch_alter_table("serving") as batch:
        for column in ("routing_header", "shadow_version", "canary_weight", "canary_version"):
            batch.drop_column(column)
