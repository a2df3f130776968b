"""Models between the catalog and MLflow: the versions a job's recorded runs registered (read from MLflow, recorded
in the catalog), MLflow's registered-model aliases kept in step with the catalog's, the gate's tags on a version,
and the reconciliation of both, with evaluations whose flow run died (run when the flow runner starts and by
``reconcile-training``).

The catalog decides: a version is a model's only when one of its job's recorded runs (``job_run``) registered
it, and an alias points where the catalog says; MLflow's aliases are a mirror (``models:/name@champion`` and
MLflow's UI agree with the catalog once ``sync_aliases`` ran).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from catalog.db import session_scope
from catalog.model_gate import ALIASES
from catalog.models import Model, ModelEvaluation, ModelVersion, TrainJob
from catalog.services import model_promotion
from catalog.services import models as models_service
from catalog.services import training as training_service
from catalog.services.models import RegisteredVersion
from infra import tracking
from infra.runtime.registry import get_runtime
from infra.tracking import TrackingError
from tasks import events
from tasks.maintenance import flow_run_states, interrupted_holders

log = logging.getLogger(__name__)

# Attempts at one model's aliases when they keep moving while they are written (each attempt writes the
# revision it read, then reads it again).
SYNC_ATTEMPTS = 5
TAG_GATE = "mlops.gate."


def record_job_versions(job_id: int) -> list[ModelVersion]:
    """Record in the catalog every version of the job's model registered by one of the job's recorded runs, with
    the run's status, metrics and params (idempotent). Returns the rows recorded (oldest first); raises
    ``TrackingError`` when MLflow does not answer."""
    with session_scope() as session:
        job = session.get(TrainJob, job_id)
        if job is None or job.model_id is None or not job.model_name:
            return []
        model_name = job.model_name
        runs = training_service.run_ids(session, job_id=job_id)
    if not runs:
        return []
    found = tracking.versions_of_runs(tracking.client(), model_name, runs)
    with session_scope() as session:
        rows = models_service.record_versions(
            session,
            job_id=job_id,
            versions=[
                RegisteredVersion(
                    version=v.version,
                    run_id=v.run_id,
                    run_status=v.run_status,
                    metrics=v.metrics,
                    params=v.params,
                )
                for v in found
            ],
        )
        return sorted(rows, key=lambda row: row.version)


def record_model_versions(model_id: int) -> int:
    """``record_job_versions`` for every job targeting the model (a serving's start, before it resolves 'latest' or
    a version the catalog does not know yet); returns how many versions are recorded now."""
    from sqlmodel import select

    with session_scope() as session:
        job_ids = list(session.exec(select(TrainJob.id).where(TrainJob.model_id == model_id)).all())
    return sum(len(record_job_versions(job_id)) for job_id in job_ids if job_id is not None)


def backfill_versions() -> list[int]:
    """Record the versions of every job the catalog lacks them for (``models_missing_versions``: after the
    migration that made models of the jobs' registered models, or a recording that failed at a training's end).
    Returns the jobs done; a job MLflow cannot answer for is left for the next run."""
    with session_scope() as session:
        jobs = models_service.models_missing_versions(session)
    done: list[int] = []
    for job_id in jobs:
        try:
            record_job_versions(job_id)
        except TrackingError as exc:
            log.warning("could not record the model versions of job %s: %s", job_id, exc)
            continue
        done.append(job_id)
    return done


@dataclass(frozen=True, slots=True)
class AliasState:
    model_id: int
    mlflow_name: str
    revision: int
    versions: dict[str, int | None]


def _state(model: Model) -> AliasState:
    return AliasState(
        model_id=int(model.id or 0),
        mlflow_name=model.mlflow_name,
        revision=model.alias_revision,
        versions={alias: getattr(model, f"{alias}_version") for alias in ALIASES},
    )


def _read(model_id: int) -> AliasState | None:
    with session_scope() as session:
        model = session.get(Model, model_id)
        return _state(model) if model is not None else None


def sync_aliases(model_id: int | None = None) -> list[int]:
    """Set (or delete) MLflow's ``champion``/``challenger`` aliases of every model whose MLflow aliases lag the
    catalog's (``aliases_synced != alias_revision``; only ``model_id`` when given), then mark them synced.
    Returns the models synced; raises ``TrackingError`` (after trying every model) when MLflow refused one."""
    with session_scope() as session:
        lagging = [_state(m) for m in model_promotion.aliases_to_sync(session) if model_id in (None, m.id)]
    if not lagging:
        return []  # nothing to write: MLflow's client is not even loaded
    mlflow = tracking.client()
    synced: list[int] = []
    problems: list[str] = []
    for state in lagging:
        try:
            _sync_one(mlflow, state)
        except TrackingError as exc:
            problems.append(f"model {state.model_id}: {exc}")
            continue
        synced.append(state.model_id)
    if problems:
        raise TrackingError("; ".join(problems))
    return synced


def _sync_one(mlflow: Any, state: AliasState) -> None:
    # Two syncs may interleave (two gates finishing at once): each writes what it read, reads the model again,
    # and writes again while the revision moved meanwhile, so the last write is always the newest revision's.
    current: AliasState | None = state
    for _ in range(SYNC_ATTEMPTS):
        if current is None:
            return
        for alias, version in current.versions.items():
            tracking.set_model_alias(mlflow, current.mlflow_name, alias, version)
        after = _read(current.model_id)
        if after is None or after.revision == current.revision:
            with session_scope() as session:
                model_promotion.mark_aliases_synced(
                    session, model_id=current.model_id, revision=current.revision
                )
            return
        current = after
    raise TrackingError(f"the aliases kept moving while they were written ({SYNC_ATTEMPTS} attempts)")


def tag_version(mlflow_name: str, version: int, tags: dict[str, str]) -> None:
    """Set ``mlops.gate.<key>`` tags on a registered version (the gate's decision, for people browsing MLflow)."""
    tracking.set_model_version_tags(
        tracking.client(), mlflow_name, version, {f"{TAG_GATE}{k}": v for k, v in tags.items()}
    )


def fail_interrupted_evaluations() -> list[int]:
    """Fail every running evaluation whose gate flow run is over (its runner died with it: nothing else would
    ever finish it), if that run still holds it; its container is removed and ``evaluation_failed`` published.
    Prefect's word on a flow run is trusted (``tasks.maintenance``). Returns the evaluations failed."""
    with session_scope() as session:
        running = model_promotion.running_evaluations(session)
    if not running:
        return []
    states = flow_run_states([flow_run_id for _, flow_run_id in running if flow_run_id])
    failed: list[int] = []
    for evaluation_id, flow_run_id, why in interrupted_holders(
        running, states, "the evaluation", "ask again"
    ):
        with session_scope() as session:
            won = model_promotion.fail_evaluation(
                session, evaluation_id=evaluation_id, error=why, held_by=flow_run_id
            )
            evaluation = session.get(ModelEvaluation, evaluation_id)
            model = session.get(Model, evaluation.model_id) if evaluation is not None else None
        if not won or evaluation is None or model is None:
            continue
        failed.append(evaluation_id)
        get_runtime().remove(f"eval-{evaluation_id}", force=True)
        events.publish(
            events.model_event(
                "evaluation_failed",
                model=model,
                version=evaluation.version,
                champion_version=model.champion_version,
                reason=why,
                evaluation_id=evaluation_id,
            )
        )
    return failed


def reconcile_models() -> str | None:
    """Fail evaluations whose flow run died, backfill missing versions, then bring every lagging model's MLflow
    aliases in step. Best effort (the callers carry on): what went wrong, else None."""
    problems: list[str] = []
    try:
        fail_interrupted_evaluations()
    except Exception as exc:  # noqa: BLE001 - Prefect, the runtime: reported, the rest still runs
        problems.append(f"interrupted evaluations: {type(exc).__name__}: {exc}")
    try:
        backfill_versions()
        sync_aliases()
    except TrackingError as exc:
        problems.append(str(exc))
    return "; ".join(problems) or None
