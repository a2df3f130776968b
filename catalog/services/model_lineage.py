"""Lineage, both ways: a model version → its run → job (algorithm, params, image) → release (version, sha256) →
entries (names, sha256, splits) → dataset; and a release → the model versions trained on it and the servings that
serve them. Read from the catalog's own records (``model_version``, ``job_run``, the release's frozen entries),
scoped like every read: a row of a team the caller cannot read shows as its id only."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from catalog.models import (
    AlgorithmConfig,
    Dataset,
    DatasetRelease,
    Model,
    ModelEvaluation,
    ModelVersion,
    Serving,
    TrainJob,
)
from catalog.scoping import Actor, get_scoped, requires
from catalog.services.models import get_model, version_row


def _release(session: Session, release_id: int | None) -> dict[str, Any] | None:
    release = session.get(DatasetRelease, release_id) if release_id is not None else None
    if release is None:
        return None
    dataset = session.get(Dataset, release.dataset_id)
    return {
        "id": release.id,
        "version": release.version,
        "sha256": release.sha256,
        "status": release.status,
        "split_counts": release.split_counts,
        "entries": [
            {
                "id": e.get("entry_id"),
                "name": e.get("name"),
                "sha256": e.get("sha256"),
                "splits": e.get("splits"),
            }
            for e in release.entries
        ],
        "dataset": {"id": dataset.id, "name": dataset.name, "scenario": dataset.scenario}
        if dataset
        else None,
    }


def _job(session: Session, job_id: int) -> dict[str, Any] | None:
    job = session.get(TrainJob, job_id)
    if job is None:
        return None
    algorithm = session.get(AlgorithmConfig, job.algorithm_id) if job.algorithm_id is not None else None
    return {
        "id": job.id,
        "name": job.name,
        "kind": job.kind,
        "algorithm": algorithm.name if algorithm else None,
        "params": job.params,
        "max_evals": job.max_evals,
        "image": job.image,
        "command": job.command,
    }


def _servings(session: Session, model: Model, version: int | None) -> list[dict[str, Any]]:
    rows = session.exec(select(Serving).where(Serving.model_id == model.id).order_by(col(Serving.id))).all()
    return [
        {
            "id": s.id,
            "name": s.name,
            "model_version": s.model_version,
            "resolved_version": s.resolved_version,
            "desired_state": s.desired_state,
        }
        for s in rows
        if version is None or s.resolved_version == str(version)
    ]


@requires("models:read")
def version_lineage(session: Session, *, actor: Actor, model_id: int, version: int) -> dict[str, Any]:
    """Everything a version came from, the gate's results for it, and the servings answering with it."""
    model = get_model(session, actor=actor, model_id=model_id)
    row = version_row(session, model=model, version=version)
    evaluations = session.exec(
        select(ModelEvaluation)
        .where(ModelEvaluation.model_id == model.id, ModelEvaluation.version == row.version)
        .order_by(col(ModelEvaluation.id))
    ).all()
    aliases = [a for a in ("champion", "challenger") if getattr(model, f"{a}_version") == row.version]
    return {
        "model": {
            "id": model.id,
            "name": model.name,
            "scenario": model.scenario,
            "mlflow_name": model.mlflow_name,
        },
        "version": row.version,
        "aliases": aliases,
        "run": {"id": row.run_id, "status": row.run_status, "metrics": row.metrics, "params": row.params},
        "job": _job(session, row.job_id),
        "release": _release(session, row.release_id),
        "evaluations": [
            {
                "id": e.id,
                "status": e.status,
                "metric": e.metric,
                "candidate_value": e.candidate_value,
                "champion_version": e.champion_version,
                "champion_value": e.champion_value,
                "reason": e.reason,
            }
            for e in evaluations
        ],
        "servings": _servings(session, model, row.version),
    }


@requires("models:read")
def release_lineage(session: Session, *, actor: Actor, release_id: int) -> dict[str, Any]:
    """The model versions trained on a release (of models the caller may read) and the servings serving them."""
    release = get_scoped(session, DatasetRelease, release_id, actor, kind="dataset release")
    rows = session.exec(
        select(ModelVersion, Model)
        .join(Model, col(Model.id) == ModelVersion.model_id)
        .where(ModelVersion.release_id == release.id)
        .order_by(col(ModelVersion.id))
    ).all()
    readable = actor.teams_with("models:read")
    versions = []
    for version, model in rows:
        if readable is not None and model.team_id not in readable:
            continue
        versions.append(
            {
                "model": {"id": model.id, "name": model.name},
                "version": version.version,
                "job_id": version.job_id,
                "run_id": version.run_id,
                "servings": _servings(session, model, version.version),
            }
        )
    return {"release": _release(session, release.id), "versions": versions}
