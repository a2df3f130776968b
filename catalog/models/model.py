"""Models: a team's line of versions (one MLflow registered model), fed by training jobs, with aliases moved by
promotion gates, rollbacks and by hand. The catalog is the record of which versions are a model's and where its
aliases point; MLflow's aliases mirror it (``tasks.models.sync_aliases``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from catalog.models.base import created_at_field, json_field, optional_datetime_field, updated_at_field


class Model(SQLModel, table=True):
    __tablename__ = "model"
    __table_args__ = (
        UniqueConstraint("team_id", "name", name="uq_model_team_name"),
        Index("ix_model_team_scenario_name", "team_id", "scenario", "name"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    scenario: str = Field(index=True, max_length=40)
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=4000)
    # The MLflow registered model holding the versions; unique across teams, fixed once made.
    mlflow_name: str = Field(max_length=300, unique=True)
    # The promotion gate (catalog.model_gate): metric None means the scenario's default for the data.
    gate_metric: str | None = Field(default=None, max_length=60)
    gate_threshold: float | None = Field(default=None)
    gate_tolerance: float = Field(default=0.0, ge=0)
    evaluation_release_id: int | None = Field(default=None, foreign_key="dataset_release.id", index=True)
    # Where the aliases point (MLflow version numbers); None: unset. Moved by conditional updates only.
    champion_version: int | None = Field(default=None)
    challenger_version: int | None = Field(default=None)
    # Bumped by every alias change; MLflow's aliases are in step once ``aliases_synced`` equals it.
    alias_revision: int = Field(default=0)
    aliases_synced: int = Field(default=0)
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class ModelVersion(SQLModel, table=True):
    """A version of a model: registered by one of the catalog's recorded runs (``job_run``) of a job that
    targeted the model, with the release that job trained on when the run was made."""

    __tablename__ = "model_version"
    __table_args__ = (UniqueConstraint("model_id", "version", name="uq_model_version"),)

    id: int | None = Field(default=None, primary_key=True)
    model_id: int = Field(foreign_key="model.id", index=True)
    version: int = Field(ge=1)
    run_id: str = Field(max_length=64, index=True)
    job_id: int = Field(foreign_key="train_job.id", index=True)
    release_id: int | None = Field(default=None, foreign_key="dataset_release.id", index=True)
    # The MLflow run's status when recorded (FINISHED, FAILED, ...): only a finished run's version is promoted.
    run_status: str = Field(default="FINISHED", max_length=20)
    # The training run's metrics and identifying params, copied so lists and comparisons need no MLflow call.
    metrics: dict[str, Any] = json_field()
    params: dict[str, Any] = json_field()
    created_at: datetime = created_at_field()


class EvaluationStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PROMOTED = "promoted"
    REJECTED = "rejected"
    FAILED = "failed"


OPEN_EVALUATIONS: tuple[EvaluationStatus, ...] = (EvaluationStatus.PENDING, EvaluationStatus.RUNNING)


class ModelEvaluation(SQLModel, table=True):
    """One run of a model's promotion gate: the candidate and the champion it was compared with, on the
    gate's evaluation release, and the decision."""

    __tablename__ = "model_evaluation"

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    model_id: int = Field(foreign_key="model.id", index=True)
    version: int
    champion_version: int | None = Field(default=None)
    release_id: int | None = Field(default=None, foreign_key="dataset_release.id")
    metric: str | None = Field(default=None, max_length=60)
    direction: str | None = Field(default=None, max_length=3)
    threshold: float | None = Field(default=None)
    tolerance: float = Field(default=0.0)
    candidate_value: float | None = Field(default=None)
    champion_value: float | None = Field(default=None)
    candidate_metrics: dict[str, Any] = json_field()
    champion_metrics: dict[str, Any] = json_field()
    status: str = Field(default=EvaluationStatus.PENDING, index=True, max_length=20)
    reason: str = Field(default="", max_length=4000)
    automatic: bool = Field(default=False)
    flow_run_id: str | None = Field(default=None, max_length=64)
    requested_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    finished_at: datetime | None = optional_datetime_field()


class AliasCause(StrEnum):
    PROMOTION = "promotion"
    ROLLBACK = "rollback"
    MANUAL = "manual"
    ROLLOUT = "rollout"  # a progressive roll-out promoted its canary (catalog.services.rollouts)


class AliasEvent(SQLModel, table=True):
    """Every move of an alias, in order: the history ``rollback`` replays (catalog.model_gate.rollback_target)."""

    __tablename__ = "model_alias_event"

    id: int | None = Field(default=None, primary_key=True)
    model_id: int = Field(foreign_key="model.id", index=True)
    alias: str = Field(max_length=40)
    version: int | None = Field(default=None)
    previous_version: int | None = Field(default=None)
    cause: str = Field(max_length=20)
    evaluation_id: int | None = Field(default=None, foreign_key="model_evaluation.id")
    actor_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = created_at_field()
