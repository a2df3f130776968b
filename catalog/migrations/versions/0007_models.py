"""Models: a team's line of versions with aliases, promotion gates and their evaluations, alias history

- model (one MLflow registered model each), model_version (versions the catalog's recorded runs registered),
  model_evaluation (the promotion gate's runs), model_alias_event (every alias move, replayed by rollback);
- train_job.model_id (the model its runs register into) and train_job.auto_promote;
- serving.model_id (what it serves; ``model_version`` may now name an alias), serving.train_job_id nullable.

Existing catalogs: each job's registered model (``train_job.model_name``) becomes a model of the job's team named
after the job, keeping its MLflow name (so its versions stay); each serving serves its job's model. The versions
themselves are read from MLflow after the upgrade (``tasks.models.backfill_versions``, at the flow runner's start):
a migration does not call servers.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10 12:00:00
"""

import sqlalchemy as sa
from alembic import op

from catalog.models.base import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "model",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("team_id", sa.Integer(), sa.ForeignKey("team.id"), nullable=False),
        sa.Column("scenario", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=4000), nullable=False),
        sa.Column("mlflow_name", sa.String(length=300), nullable=False, unique=True),
        sa.Column("gate_metric", sa.String(length=60), nullable=True),
        sa.Column("gate_threshold", sa.Float(), nullable=True),
        sa.Column("gate_tolerance", sa.Float(), nullable=False),
        sa.Column("evaluation_release_id", sa.Integer(), sa.ForeignKey("dataset_release.id"), nullable=True),
        sa.Column("champion_version", sa.Integer(), nullable=True),
        sa.Column("challenger_version", sa.Integer(), nullable=True),
        sa.Column("alias_revision", sa.Integer(), nullable=False),
        sa.Column("aliases_synced", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("user_account.id"), nullable=True),
        *_stamps(),
        sa.UniqueConstraint("team_id", "name", name="uq_model_team_name"),
    )
    op.create_index("ix_model_team_id", "model", ["team_id"])
    op.create_index("ix_model_scenario", "model", ["scenario"])
    op.create_index("ix_model_evaluation_release_id", "model", ["evaluation_release_id"])
    op.create_index("ix_model_team_scenario_name", "model", ["team_id", "scenario", "name"])
    op.create_table(
        "model_version",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("model_id", sa.Integer(), sa.ForeignKey("model.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("train_job.id"), nullable=False),
        sa.Column("release_id", sa.Integer(), sa.ForeignKey("dataset_release.id"), nullable=True),
        sa.Column("run_status", sa.String(length=20), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("model_id", "version", name="uq_model_version"),
    )
    for column in ("model_id", "run_id", "job_id", "release_id"):
        op.create_index(f"ix_model_version_{column}", "model_version", [column])
    op.create_table(
        "model_evaluation",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("team_id", sa.Integer(), sa.ForeignKey("team.id"), nullable=False),
        sa.Column("model_id", sa.Integer(), sa.ForeignKey("model.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("champion_version", sa.Integer(), nullable=True),
        sa.Column("release_id", sa.Integer(), sa.ForeignKey("dataset_release.id"), nullable=True),
        sa.Column("metric", sa.String(length=60), nullable=True),
        sa.Column("direction", sa.String(length=3), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("tolerance", sa.Float(), nullable=False),
        sa.Column("candidate_value", sa.Float(), nullable=True),
        sa.Column("champion_value", sa.Float(), nullable=True),
        sa.Column("candidate_metrics", sa.JSON(), nullable=False),
        sa.Column("champion_metrics", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=4000), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.Column("requested_by", sa.Integer(), sa.ForeignKey("user_account.id"), nullable=True),
        *_stamps(),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
    )
    for column in ("team_id", "model_id", "status"):
        op.create_index(f"ix_model_evaluation_{column}", "model_evaluation", [column])
    op.create_table(
        "model_alias_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("model_id", sa.Integer(), sa.ForeignKey("model.id"), nullable=False),
        sa.Column("alias", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("previous_version", sa.Integer(), nullable=True),
        sa.Column("cause", sa.String(length=20), nullable=False),
        sa.Column("evaluation_id", sa.Integer(), sa.ForeignKey("model_evaluation.id"), nullable=True),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("user_account.id"), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_model_alias_event_model_id", "model_alias_event", ["model_id"])
    with op.batch_alter_table("train_job") as batch:
        batch.add_column(sa.Column("model_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("auto_promote", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_foreign_key("fk_train_job_model_id", "model", ["model_id"], ["id"])
        batch.create_index("ix_train_job_model_id", ["model_id"])
    with op.batch_alter_table("serving") as batch:
        batch.add_column(sa.Column("model_id", sa.Integer(), nullable=True))
        batch.alter_column("train_job_id", existing_type=sa.Integer(), nullable=True)
        batch.create_foreign_key("fk_serving_model_id", "model", ["model_id"], ["id"])
        batch.create_index("ix_serving_model_id", ["model_id"])
    _models_of_existing_jobs()


def _models_of_existing_jobs() -> None:
    """Each job's registered model becomes a model named after the job; servings serve their job's model."""
    bind = op.get_bind()
    jobs = bind.execute(
        sa.text(
            "SELECT id, team_id, scenario, name, model_name, created_by, created_at FROM train_job "
            "WHERE model_name IS NOT NULL ORDER BY id"
        )
    ).all()
    model = sa.table(
        "model",
        *(
            sa.column(c)
            for c in (
                "team_id", "scenario", "name", "description", "mlflow_name", "gate_tolerance",
                "alias_revision", "aliases_synced", "created_by", "created_at", "updated_at",
            )
        ),
    )  # fmt: skip
    for job in jobs:
        bind.execute(
            model.insert().values(
                team_id=job.team_id,
                scenario=job.scenario,
                name=job.name,
                description="",
                mlflow_name=job.model_name,
                gate_tolerance=0.0,
                alias_revision=0,
                aliases_synced=0,
                created_by=job.created_by,
                created_at=job.created_at,
                updated_at=job.created_at,
            )
        )
        model_id = bind.execute(
            sa.text("SELECT id FROM model WHERE mlflow_name = :name"), {"name": job.model_name}
        ).scalar_one()
        bind.execute(
            sa.text("UPDATE train_job SET model_id = :m WHERE id = :j"), {"m": model_id, "j": job.id}
        )
    bind.execute(
        sa.text(
            "UPDATE serving SET model_id = (SELECT model_id FROM train_job WHERE train_job.id = serving.train_job_id)"
        )
    )


def downgrade() -> None:
    bind = op.get_bind()
    modelless = bind.execute(sa.text("SELECT COUNT(*) FROM serving WHERE train_job_id IS NULL")).scalar()
    if modelless:
        raise RuntimeError(
            f"{modelless} serving(s) serve a model without a training job: delete them before downgrading below 0007"
        )
    with op.batch_alter_table("serving") as batch:
        batch.drop_index("ix_serving_model_id")
        batch.drop_constraint("fk_serving_model_id", type_="foreignkey")
        batch.alter_column("train_job_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("model_id")
    with op.batch_alter_table("train_job") as batch:
        batch.drop_index("ix_train_job_model_id")
        batch.drop_constraint("fk_train_job_model_id", type_="foreignkey")
        batch.drop_column("auto_promote")
        batch.drop_column("model_id")
    for table in ("model_alias_event", "model_evaluation", "model_version", "model"):
        op.drop_table(table)
