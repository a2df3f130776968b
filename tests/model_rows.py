"""Rows a test seeds directly: the model a training job targets, made as migration 0007 makes one of an existing
job (named after the job, keeping the job's registered-model name), and its recorded versions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlmodel import Session

from catalog.models import Model, ModelVersion, TrainJob


def add_model(session: Session, job: TrainJob, *, mlflow_name: str | None = None) -> Model:
    """A model for ``job`` (flushed), and the job pointed at it."""
    model = Model(
        team_id=job.team_id,
        scenario=job.scenario,
        name=job.name,
        mlflow_name=mlflow_name or job.model_name or f"test-model-job{job.id}",
    )
    session.add(model)
    session.flush()
    job.model_id, job.model_name = model.id, model.mlflow_name
    session.add(job)
    session.flush()
    return model


def add_versions(
    session: Session,
    model: Model,
    job: TrainJob,
    versions: Iterable[tuple[int, str]],
    *,
    metrics: dict[str, Any] | None = None,
    run_status: str = "FINISHED",
) -> list[ModelVersion]:
    """``(version, run_id)`` rows of ``model`` registered by ``job``'s runs (the runs must be the job's)."""
    rows = [
        ModelVersion(
            model_id=model.id,  # type: ignore[arg-type]
            version=number,
            run_id=run_id,
            job_id=job.id,  # type: ignore[arg-type]
            release_id=job.release_id,
            run_status=run_status,
            metrics=dict(metrics or {}),
        )
        for number, run_id in versions
    ]
    session.add_all(rows)
    session.flush()
    return rows
