"""A model's versions, recorded in the catalog from what MLflow reports for the runs the catalog recorded.

``record_model_versions`` asks MLflow which versions of the model's registered model each of its jobs' recorded
runs (``job_run``) registered, and records them (``catalog.services.models.record_versions``, idempotent; a
version another run registered is ignored). A serving's start calls it before resolving 'latest' (or a reference
the catalog does not know yet), so a version registered by a run that just ended is served even before anything
else recorded it.
"""

from __future__ import annotations

from sqlmodel import select

from catalog.db import session_scope
from catalog.models import JobRun, Model, TrainJob
from catalog.services import models as model_service
from catalog.services.models import RegisteredVersion
from infra import tracking


def record_model_versions(model_id: int) -> int:
    """Record the versions the model's jobs' runs registered; returns how many are recorded now.

    Raises ``tracking.TrackingError`` when MLflow does not answer."""
    with session_scope() as session:
        model = session.get(Model, model_id)
        if model is None:
            raise LookupError(f"model {model_id} not found")
        name = model.mlflow_name
        runs = {
            run_id: job_id
            for run_id, job_id in session.exec(
                select(JobRun.run_id, JobRun.job_id)
                .join(TrainJob, TrainJob.id == JobRun.job_id)  # type: ignore[arg-type]
                .where(TrainJob.model_id == model_id)
            ).all()
        }
    mlflow = tracking.client()
    found: dict[int, list[RegisteredVersion]] = {}
    for run_id, job_id in runs.items():
        versions = tracking.run_model_versions(mlflow, name, run_id)
        if not versions:
            continue
        summary = tracking.run_summary(mlflow, run_id)
        found.setdefault(job_id, []).extend(
            RegisteredVersion(
                version=int(version),
                run_id=run_id,
                run_status=str(summary["status"]),
                metrics=dict(summary["metrics"]),
                params=dict(summary["params"]),
            )
            for version in versions
        )
    recorded = 0
    with session_scope() as session:
        for job_id, versions in found.items():
            recorded += len(model_service.record_versions(session, job_id=job_id, versions=versions))
    return recorded
