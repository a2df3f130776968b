"""Governance: team tree and quotas, custom roles, narrowed tokens, quota claims of containers, model sizes

- team.parent_id (a team's parent) and team.max_* (quotas of the team's subtree);
- role: custom roles (name, permissions, includes_children); membership.role widens to hold their names;
- api_token.permissions: the subset of its user's permissions a token is narrowed to (NULL: all);
- train_job.claimed_cpu / claimed_memory_mb, serving.cpu_limit / memory_limit_mb / claimed_cpu /
  claimed_memory_mb: container requests held against the CPU/memory quotas;
- job_run.model_bytes: the size of a run's model, counted in the stored-bytes quota.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09 12:00:00
"""

import sqlalchemy as sa
from alembic import op

from catalog.models.base import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

QUOTAS = (
    ("max_trainings", sa.Integer()),
    ("max_servings", sa.Integer()),
    ("max_stored_bytes", sa.BigInteger()),
    ("max_cpus", sa.Float()),
    ("max_memory_mb", sa.Integer()),
)


def upgrade() -> None:
    # On SQLite the team table is rebuilt with AUTOINCREMENT: a deleted team's id is never given to a new team,
    # which would otherwise inherit everything keyed by it (its audit records, a dashboard's current team).
    sqlite = op.get_bind().dialect.name == "sqlite"
    rebuild = {"recreate": "always", "table_kwargs": {"sqlite_autoincrement": True}} if sqlite else {}
    with op.batch_alter_table("team", **rebuild) as batch:  # type: ignore[arg-type]
        batch.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        for name, kind in QUOTAS:
            batch.add_column(sa.Column(name, kind, nullable=True))
        batch.create_foreign_key("fk_team_parent_id", "team", ["parent_id"], ["id"])
        batch.create_index("ix_team_parent_id", ["parent_id"])
    op.create_table(
        "role",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=100), nullable=False, unique=True),
        sa.Column("description", sa.String(length=1000), nullable=False, server_default=""),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("includes_children", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    with op.batch_alter_table("membership") as batch:
        batch.alter_column("role", existing_type=sa.String(length=20), type_=sa.String(length=100))
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(sa.Column("permissions", sa.JSON(), nullable=True))
    with op.batch_alter_table("train_job") as batch:
        batch.add_column(sa.Column("claimed_cpu", sa.Float(), nullable=True))
        batch.add_column(sa.Column("claimed_memory_mb", sa.Integer(), nullable=True))
    with op.batch_alter_table("serving") as batch:
        batch.add_column(sa.Column("cpu_limit", sa.Float(), nullable=True))
        batch.add_column(sa.Column("memory_limit_mb", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("claimed_cpu", sa.Float(), nullable=True))
        batch.add_column(sa.Column("claimed_memory_mb", sa.Integer(), nullable=True))
    with op.batch_alter_table("job_run") as batch:
        batch.add_column(sa.Column("model_bytes", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    bind = op.get_bind()
    custom = bind.execute(
        sa.text("SELECT COUNT(*) FROM membership WHERE role NOT IN ('member', 'admin')")
    ).scalar()
    nested = bind.execute(sa.text("SELECT COUNT(*) FROM team WHERE parent_id IS NOT NULL")).scalar()
    if custom or nested:
        raise RuntimeError(
            f"{custom} membership(s) hold a role other than member/admin and {nested} team(s) have a parent: "
            "change them before downgrading below 0006"
        )
    with op.batch_alter_table("job_run") as batch:
        batch.drop_column("model_bytes")
    with op.batch_alter_table("serving") as batch:
        for name in ("claimed_memory_mb", "claimed_cpu", "memory_limit_mb", "cpu_limit"):
            batch.drop_column(name)
    with op.batch_alter_table("train_job") as batch:
        batch.drop_column("claimed_memory_mb")
        batch.drop_column("claimed_cpu")
    with op.batch_alter_table("api_token") as batch:
        batch.drop_column("permissions")
    with op.batch_alter_table("membership") as batch:
        batch.alter_column("role", existing_type=sa.String(length=100), type_=sa.String(length=20))
    op.drop_table("role")
    with op.batch_alter_table("team") as batch:
        batch.drop_index("ix_team_parent_id")
        batch.drop_constraint("fk_team_parent_id", type_="foreignkey")
        for name, _ in reversed(QUOTAS):
            batch.drop_column(name)
        batch.drop_column("parent_id")
