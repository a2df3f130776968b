"""Models: a team's line of versions (one MLflow registered model) fed by training jobs, its aliases
(``champion``, ``challenger``), its promotion gate and the gate's evaluations, rollbacks, and lineage both ways
(a version → run → job → release → entries → dataset; a release → the versions trained on it and their servings).

Promotion runs as a flow (``PromotionLaunch``: the evaluation it decides and the flow run deciding it); an alias
moved by a rollback or by hand is recorded at once, and a flow brings MLflow's aliases and the servings that
follow the alias in step (``ModelChange.launch``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from mlops_lite.schemas.common import JSON_INT, Body, Id, Name, Row, ScenarioName
from mlops_lite.schemas.runs import Launch

# The aliases a model has (catalog.model_gate.ALIASES; tests/api/test_schemas.py checks they agree).
ALIASES = ("champion", "challenger")
AliasName = Literal["champion", "challenger"]
# Every scenario's gate metrics (catalog.model_gate.SCENARIO_METRICS; checked to agree likewise). Which ones a
# model may use depends on its scenario: the catalog refuses another scenario's (422, listing the model's).
GATE_METRICS = (
    "f1",
    "roc_auc",
    "anomaly_rate",
    "mape",
    "rmse",
    "grouping_accuracy",
    "coverage",
    "accuracy",
    "f1_macro",
    "top1",
    "top5",
    "mAP50",
    "mAP50-95",
)
GateMetricName = Literal[GATE_METRICS]  # type: ignore[valid-type]
# An evaluation's statuses: open while the gate works, final once it decided or could not.
OPEN_EVALUATION_STATUSES = frozenset({"pending", "running"})
FINAL_EVALUATION_STATUSES = frozenset({"promoted", "rejected", "failed"})
VersionNumber = Annotated[int, Field(ge=1, le=2**31 - 1), JSON_INT]
Threshold = Annotated[float, Field(allow_inf_nan=False)]
Tolerance = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Description = Annotated[str, Field(max_length=4000)]


class ModelOut(Row):
    id: int
    team_id: int
    scenario: str
    name: str
    description: str
    mlflow_name: str = Field(description="The MLflow registered model holding the versions.")
    gate_metric: str | None = Field(description="The gate's metric; null: the scenario's first one computed.")
    gate_threshold: float | None = Field(description="The value a candidate must reach (null: none).")
    gate_tolerance: float = Field(description="How much worse than the champion a candidate may be.")
    evaluation_release_id: int | None = Field(
        description="The release every candidate and champion is evaluated on (null: the first candidate's "
        "training release, fixed at its promotion)."
    )
    champion_version: int | None
    challenger_version: int | None
    alias_revision: int = Field(description="Bumped by every alias move.")
    aliases_synced: int = Field(description="The alias revision MLflow's aliases are in step with.")
    created_by: int | None
    created_at: datetime
    updated_at: datetime


class CreateModel(Body):
    name: Name = Field(description="Unique in the team.")
    scenario: ScenarioName
    description: Description = ""
    team_id: Id | None = Field(default=None, description="Default: your first team.")


class UpdateModel(Body):
    """The promotion gate and the description; only the fields given change. ``metric``, ``threshold`` and
    ``evaluation_release_id`` given as null are cleared."""

    metric: GateMetricName | None = Field(
        default=None, description="One of the model's scenario's gate metrics (null: the scenario's default)."
    )
    threshold: Threshold | None = Field(default=None, description="null: no threshold.")
    tolerance: Tolerance = Field(default=0.0, description="≥ 0, in the metric's units.")
    evaluation_release_id: Id | None = Field(
        default=None, description="A published release of the model's team and scenario (null: unset)."
    )
    description: Description = ""


class VersionOut(Row):
    model_id: int
    version: int
    run_id: str = Field(description="The MLflow run that registered it (one the catalog recorded).")
    job_id: int
    release_id: int | None = Field(description="The release the job trained on.")
    run_status: str = Field(description="The run's status when recorded; only FINISHED ones are promoted.")
    metrics: dict[str, float | None]
    params: dict[str, Any]
    created_at: datetime
    aliases: list[str] = Field(default_factory=list, description="The aliases pointing at it.")


class EvaluationOut(Row):
    """One run of a model's promotion gate: the candidate, the champion it was compared with on the
    evaluation release, and the decision (``status``: pending, running, promoted, rejected, failed)."""

    id: int
    team_id: int
    model_id: int
    version: int
    champion_version: int | None
    release_id: int | None
    metric: str | None
    direction: str | None = Field(description="max: higher is better; min: lower is better.")
    threshold: float | None
    tolerance: float
    candidate_value: float | None
    champion_value: float | None
    candidate_metrics: dict[str, Any]
    champion_metrics: dict[str, Any]
    status: str
    reason: str = Field(description="Why it was promoted or rejected, or why the gate failed.")
    automatic: bool = Field(description="Asked for by a training job's auto-promotion.")
    flow_run_id: str | None
    requested_by: int | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class Promote(Body):
    version: VersionNumber = Field(description="The version to put before the gate.")


class SetAlias(Body):
    version: VersionNumber | None = Field(description="A version from a finished run; null clears the alias.")


class PromotionLaunch(Row):
    """The evaluation a promotion created (pending) and the flow run of the gate deciding it."""

    evaluation: EvaluationOut
    launch: Launch


class ModelChange(Row):
    """A model after an alias moved, and the flow bringing MLflow's aliases and the servings following the
    alias in step (None: nothing moved, nothing launched)."""

    model: ModelOut
    launch: Launch | None = None


class AliasEventOut(Row):
    id: int
    model_id: int
    alias: str
    version: int | None = Field(description="Where it points now (null: cleared).")
    previous_version: int | None
    cause: str = Field(description="promotion, rollback or manual")
    evaluation_id: int | None
    actor_id: int | None
    created_at: datetime


# ---------------------------------------------------------------- lineage


class LineageModel(Row):
    id: int
    name: str
    scenario: str | None = None
    mlflow_name: str | None = None


class LineageRun(Row):
    id: str
    status: str
    metrics: dict[str, float | None]
    params: dict[str, Any]


class LineageJob(Row):
    id: int
    name: str
    kind: str
    algorithm: str | None
    params: dict[str, Any]
    max_evals: int
    image: str | None
    command: list[str] | None


class LineageEntry(Row):
    id: int | None
    name: str | None
    sha256: str | None
    splits: list[str] | None


class LineageDataset(Row):
    id: int
    name: str
    scenario: str


class LineageRelease(Row):
    id: int
    version: str
    sha256: str | None
    status: str
    split_counts: dict[str, Any]
    entries: list[LineageEntry]
    dataset: LineageDataset | None


class LineageEvaluation(Row):
    id: int
    status: str
    metric: str | None
    candidate_value: float | None
    champion_version: int | None
    champion_value: float | None
    reason: str


class LineageServing(Row):
    id: int
    name: str
    model_version: str
    resolved_version: str | None
    desired_state: str


class VersionLineage(Row):
    """Everything a version came from, the gate's results for it, and the servings answering with it."""

    model: LineageModel
    version: int
    aliases: list[str]
    run: LineageRun
    job: LineageJob | None
    release: LineageRelease | None
    evaluations: list[LineageEvaluation]
    servings: list[LineageServing]


class ReleaseVersion(Row):
    model: LineageModel
    version: int
    job_id: int
    run_id: str
    servings: list[LineageServing]


class ReleaseLineage(Row):
    """The model versions trained on a release (of models the caller may read) and the servings serving them."""

    release: LineageRelease | None
    versions: list[ReleaseVersion]
