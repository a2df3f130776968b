"""train_job.kind and the custom kind's columns (image, command, env, cpu_limit, memory_limit_mb)

- kind: "preset" (a platform algorithm) or "custom" (the user's image and command); existing jobs are presets.
- algorithm_id becomes nullable: a custom job has no algorithm. ck_train_job_kind keeps each kind whole.

A downgrade refuses while custom jobs exist (their rows cannot be presets): delete them first.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

CHECK = (
    "(kind = 'preset' AND algorithm_id IS NOT NULL)"
    " OR (kind = 'custom' AND image IS NOT NULL AND command IS NOT NULL)"
)


def upgrade() -> None:
    with op.batch_alter_table("train_job") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=20), nullable=False, server_default="preset"))
        batch.add_column(sa.Column("image", sa.String(length=512), nullable=True))
        batch.add_column(sa.Column("command", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("env", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("cpu_limit", sa.Float(), nullable=True))
        batch.add_column(sa.Column("memory_limit_mb", sa.Integer(), nullable=True))
        batch.alter_column("algorithm_id", existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table("train_job") as batch:
        # The default only filled the existing rows; the model sets the kind of every new one.
        batch.alter_column("kind", existing_type=sa.String(length=20), server_default=None)
        batch.create_check_constraint("ck_train_job_kind", CHECK)


def downgrade() -> None:
    custom = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM train_job WHERE kind = 'custom'")).scalar()
    if custom:
        raise RuntimeError(
            f"{custom} custom training job(s) exist: delete them before downgrading below 0005"
        )
    with op.batch_alter_table("train_job") as batch:
        batch.drop_constraint("ck_train_job_kind", type_="check")
    with op.batch_alter_table("train_job") as batch:
        batch.alter_column("algorithm_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("memory_limit_mb")
        batch.drop_column("cpu_limit")
        batch.drop_column("env")
        batch.drop_column("command")
        batch.drop_column("image")
        batch.drop_column("kind")
