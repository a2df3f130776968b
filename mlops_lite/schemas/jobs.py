"""Training jobs and their MLflow runs: what creating or changing a job sends, a job as lists show it and in
full, and a run's summary, metric points and soft-delete answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from mlops_lite.schemas.common import JSON_INT, Body, Id, Name, Row, ScenarioName

# A job's final statuses: a start ended one way or another (``client.jobs.wait`` returns on them).
FINAL_STATUSES = frozenset({"completed", "failed", "stopped"})
ACTIVE_STATUSES = frozenset({"starting", "running"})


# The catalog's MAX_EVALS_LIMIT (catalog.services.training; tests/api/test_schemas.py checks they agree).
MAX_EVALS = 500
MaxEvals = Annotated[int, Field(ge=0, le=MAX_EVALS), JSON_INT]
MODEL_HELP = (
    "The team's model (its name or id, of the job's scenario) the job's runs register versions of; default: "
    "the team's model named after the job, made if there is none."
)
AUTO_PROMOTE_HELP = (
    "Each completed start asks the model's promotion gate to promote the version it registered."
)


class CreateJob(Body):
    name: Name = Field(description="Unique in the team.")
    scenario: ScenarioName
    algorithm: Id | Name = Field(
        description="The algorithm's name in the scenario (e.g. ECOD) or its id (`GET /algorithms`)."
    )
    release_id: Id = Field(description="A published release of a dataset of the same team and scenario.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Checked against the algorithm's parameter declarations."
    )
    max_evals: MaxEvals = Field(default=0, description="Tuning trials before the final fit (0: train once).")
    description: str = Field(default="", max_length=4000)
    team_id: Id | None = Field(default=None, description="Default: your first team.")
    model: Id | Name | None = Field(default=None, description=MODEL_HELP)
    auto_promote: bool = Field(default=False, description=AUTO_PROMOTE_HELP)


class UpdateJob(Body):
    """Only the fields given change; the job must not be starting or running."""

    params: dict[str, Any] | None = Field(default=None, description="Replaces the parameters (checked).")
    release_id: Id | None = None
    max_evals: MaxEvals | None = None


class JobOut(Row):
    """A job as lists show it (no log tail)."""

    id: int
    team_id: int
    scenario: str
    name: str
    description: str
    algorithm_id: int | None = Field(
        description="The preset algorithm; None for a custom job (its own code)."
    )
    release_id: int
    params: dict[str, Any]
    max_evals: int
    status: str = Field(description="created, starting, running, completed, failed or stopped")
    config_key: str | None
    config_revision: int
    model_id: int | None = Field(description="The model the job's runs register versions of.")
    model_name: str | None = Field(description="That model's MLflow registered model.")
    auto_promote: bool
    mlflow_experiment_id: str | None
    mlflow_run_id: str | None = Field(description="The MLflow run of the latest start.")
    flow_run_id: str | None = Field(description="The Prefect flow run of the latest start (or stop).")
    container_name: str | None
    error: str | None
    watched_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    created_by: int | None
    created_at: datetime
    updated_at: datetime


class JobDetail(JobOut):
    """A job in full: its last container log lines, its algorithm, release and dataset by name, and links."""

    log_tail: str | None = None
    algorithm: str | None = Field(default=None, description="The algorithm's name.")
    release: str | None = Field(default=None, description="The release's version.")
    dataset: str | None = Field(default=None, description="The released dataset's name.")
    flow_run_url: str | None = Field(default=None, description="The latest flow run in the Prefect UI.")
    mlflow_run_url: str | None = Field(default=None, description="The latest run in the MLflow UI.")


class RunOut(Row):
    """One MLflow run of a job."""

    run_id: str
    status: str = Field(description="MLflow's: RUNNING, FINISHED, FAILED, KILLED, ...")
    start_time: datetime | None
    end_time: datetime | None
    duration_s: float | None
    lifecycle_stage: str = Field(description="active, or deleted (restorable)")
    # NaN and infinities travel as null (JSON has no such numbers).
    metrics: dict[str, float | None] = Field(description="Each metric's latest value.")
    model_version: str | None = None


class MetricPoint(Row):
    step: int
    timestamp: int = Field(description="Milliseconds since the epoch.")
    value: float | None = Field(description="null for NaN or an infinity.")


class RunDeleted(Row):
    run_id: str
    deleted: bool
