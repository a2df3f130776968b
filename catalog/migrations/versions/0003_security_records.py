"""job_run, revoked_token, serving.auth_salt

- job_run: the MLflow runs the platform created for each job (ownership of a run is decided by this table,
  never by the run's tags). Backfilled with each job's current run; runs of earlier starts were only known
  by their tags, which are not trusted, so they are not listed as the job's anymore.
- revoked_token: signed-out session tokens, so a sign-out holds across processes and restarts.
- serving.auth_salt: per-serving salt of the inference server's token; existing servings get a random one
  (their running servers learn it at their next restart).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 20:00:00
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_run",
        sa.Column("run_id", sa.String(length=64), primary_key=True),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("train_job.id"), nullable=False),
        sa.Column("experiment_id", sa.String(length=64), nullable=False),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_job_run_job_id", "job_run", ["job_id"])
    op.create_index("ix_job_run_flow_run_id", "job_run", ["flow_run_id"])
    op.execute(
        "INSERT INTO job_run (run_id, job_id, experiment_id, flow_run_id, created_at) "
        "SELECT mlflow_run_id, id, mlflow_experiment_id, flow_run_id, COALESCE(started_at, created_at) "
        "FROM train_job WHERE mlflow_run_id IS NOT NULL AND mlflow_experiment_id IS NOT NULL"
    )
    op.create_table(
        "revoked_token",
        sa.Column("digest", sa.String(length=64), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_revoked_token_expires_at", "revoked_token", ["expires_at"])
    with op.batch_alter_table("serving") as batch:
        batch.add_column(sa.Column("auth_salt", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    for (serving_id,) in conn.execute(sa.text("SELECT id FROM serving")).all():
        conn.execute(
            sa.text("UPDATE serving SET auth_salt = :salt WHERE id = :id"),
            {"salt": secrets.token_hex(16), "id": serving_id},
        )
    with op.batch_alter_table("serving") as batch:
        batch.alter_column("auth_salt", existing_type=sa.String(length=64), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("serving") as batch:
        batch.drop_column("auth_salt")
    op.drop_index("ix_revoked_token_expires_at", table_name="revoked_token")
    op.drop_table("revoked_token")
    op.drop_index("ix_job_run_flow_run_id", table_name="job_run")
    op.drop_index("ix_job_run_job_id", table_name="job_run")
    op.drop_table("job_run")
