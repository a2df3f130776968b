"""Training jobs: one dataset release + one algorithm + its parameters, run in a container — or, for the custom
kind, the release + a user's image, command, environment and resources (docs/architecture.md)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from catalog.models.base import created_at_field, json_field, optional_datetime_field, updated_at_field


class JobKind(StrEnum):
    PRESET = "preset"  # a platform algorithm (algorithm_id, params) in the platform image
    CUSTOM = "custom"  # the user's image and command (image, command, env, resources)


class JobStatus(StrEnum):
    CREATED = "created"
    STARTING = "starting"  # claimed by a start; container being launched
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"


# Statuses from which a start may claim the job; STARTING/RUNNING are "already running".
STARTABLE_STATUSES: tuple[JobStatus, ...] = (
    JobStatus.CREATED,
    JobStatus.COMPLETED,
    JobStatus.FAILED,
    JobStatus.STOPPED,
)
ACTIVE_STATUSES: tuple[JobStatus, ...] = (JobStatus.STARTING, JobStatus.RUNNING)


class TrainJob(SQLModel, table=True):
    __tablename__ = "train_job"
    __table_args__ = (
        UniqueConstraint("team_id", "name", name="uq_train_job_team_name"),
        # A team's jobs of one scenario in name order (the NATS module-data pages, team-scoped lists).
        Index("ix_train_job_team_scenario_name", "team_id", "scenario", "name"),
        # Each kind has what it runs: no preset without its algorithm, no custom job without image and command.
        CheckConstraint(
            "(kind = 'preset' AND algorithm_id IS NOT NULL)"
            " OR (kind = 'custom' AND image IS NOT NULL AND command IS NOT NULL)",
            name="ck_train_job_kind",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    scenario: str = Field(index=True, max_length=40)
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=4000)
    kind: str = Field(default=JobKind.PRESET, max_length=20)
    algorithm_id: int | None = Field(default=None, foreign_key="algorithm_config.id", index=True)
    release_id: int = Field(foreign_key="dataset_release.id", index=True)
    params: dict[str, Any] = json_field()
    max_evals: int = Field(default=0, ge=0)
    # The custom kind (mlops_lite.schemas.custom_jobs.CustomSpec); None on presets. Resources as the runtime's.
    image: str | None = Field(default=None, max_length=512)
    command: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    env: dict[str, str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    cpu_limit: float | None = Field(default=None)
    memory_limit_mb: int | None = Field(default=None)
    # What the current start holds against the team's CPU/memory quotas, passed to the runtime as limits
    # (catalog.services.quotas); None when nothing is held.
    claimed_cpu: float | None = Field(default=None)
    claimed_memory_mb: int | None = Field(default=None)
    status: str = Field(default=JobStatus.CREATED, index=True, max_length=20)
    config_key: str | None = Field(default=None, max_length=500)
    config_revision: int = Field(default=0)
    # The model the job's runs register versions of (catalog.models.Model); ``model_name`` is that model's
    # ``mlflow_name``, kept on the job because the job's config and its container are told it.
    model_id: int | None = Field(default=None, foreign_key="model.id", index=True)
    model_name: str | None = Field(default=None, max_length=300)
    # Ask the model's promotion gate for the version a completed start registered.
    auto_promote: bool = Field(default=False)
    mlflow_experiment_id: str | None = Field(default=None, max_length=64)
    mlflow_run_id: str | None = Field(default=None, max_length=64)
    flow_run_id: str | None = Field(default=None, max_length=64)
    container_name: str | None = Field(default=None, max_length=200)
    error: str | None = Field(default=None, max_length=8000)
    log_tail: str | None = Field(default=None, max_length=20000)
    watched_at: datetime | None = optional_datetime_field()
    started_at: datetime | None = optional_datetime_field()
    finished_at: datetime | None = optional_datetime_field()
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class JobRun(SQLModel, table=True):
    """Every MLflow run the platform created for a job: the catalog's own record of which runs are a job's.

    Ownership of a run is decided here, never by the run's tags (anyone able to write to MLflow could set
    those). ``flow_run_id`` is the Prefect flow run that created it, so a retried flow run reuses its run.
    """

    __tablename__ = "job_run"

    run_id: str = Field(primary_key=True, max_length=64)
    job_id: int = Field(foreign_key="train_job.id", index=True)
    experiment_id: str = Field(max_length=64)
    flow_run_id: str | None = Field(default=None, max_length=64, index=True)
    # Bytes of the model the run logged (counted in the team's stored-bytes quota); None before it ends.
    model_bytes: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = created_at_field()
