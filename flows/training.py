"""Training flows: ``train`` (claim, launch, watch), ``stop-training`` and ``reconcile-training``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from sqlmodel import select

from catalog.db import session_scope
from catalog.errors import ConflictError
from catalog.models import JobStatus, TrainJob
from catalog.models.base import utcnow
from catalog.scoping import SYSTEM
from catalog.services import training as training_service
from flows.watchdog import watch_job
from infra import tracking
from infra.settings import get_settings
from tasks.training import launch_container, prepare_run, stop_container


def _flow_run_id() -> str | None:
    ident = flow_run.get_id()
    return str(ident) if ident else None


@flow(name="train", log_prints=True)
def train(job_id: int) -> dict[str, Any]:
    """Claim the job, launch its training container, and watch it until it ends."""
    logger = get_run_logger()
    flow_run_id = _flow_run_id()
    with session_scope() as session:
        previous = training_service.claim_start(session, actor=SYSTEM, job_id=job_id, flow_run_id=flow_run_id)
    handle = None
    try:
        handle = prepare_run(job_id, flow_run_id)
        container = launch_container(job_id, handle.run_id)
        with session_scope() as session:
            if not training_service.mark_running(session, job_id=job_id, run_id=handle.run_id,
                                                 experiment_id=handle.experiment_id, container_name=container):
                raise ConflictError(f"job {job_id} left STARTING while its container was launched")
    except Exception as exc:
        logger.error("launch of job %s failed: %s", job_id, exc)
        with session_scope() as session:
            training_service.restore_status(session, job_id=job_id, previous=previous,
                                            error=f"launch failed: {exc}")
        if handle is not None:
            try:
                tracking.end_run(tracking.client(), handle.run_id, "FAILED")
            except tracking.TrackingError:
                pass
        raise
    logger.info("job %s running in container %s (MLflow run %s)", job_id, container, handle.run_id)
    result = watch_job(job_id)
    logger.info("job %s ended: %s %s", job_id, result.status, result.reason or "")
    return {"job_id": job_id, "status": result.status.value, "reason": result.reason, "run_id": handle.run_id}


@flow(name="stop-training")
def stop_training(job_id: int) -> dict[str, Any]:
    """Stop and remove the container, mark the run KILLED, return the job to a startable status."""
    with session_scope() as session:
        job = training_service.get_job(session, actor=SYSTEM, job_id=job_id)
    if job.container_name:
        stop_container(job.container_name)
    if job.mlflow_run_id:
        try:
            tracking.end_run(tracking.client(), job.mlflow_run_id, "KILLED")
        except tracking.TrackingError as exc:
            get_run_logger().warning("could not mark run %s KILLED: %s", job.mlflow_run_id, exc)
    with session_scope() as session:
        stopped = training_service.mark_finished(session, job_id=job_id, status=JobStatus.STOPPED,
                                                 error="stopped by user")
    return {"job_id": job_id, "stopped": stopped}


@flow(name="reconcile-training")
def reconcile_training(stale_after_seconds: float | None = None) -> list[int]:
    """Resume watching running jobs that nothing watches (e.g. after a platform restart)."""
    cfg = get_settings().training
    stale = timedelta(seconds=stale_after_seconds or max(3 * cfg.poll_seconds, 3 * 60))
    cutoff = utcnow() - stale
    with session_scope() as session:
        rows = session.exec(select(TrainJob).where(TrainJob.status == JobStatus.RUNNING)).all()
        orphans = [j.id for j in rows if j.watched_at is None or _aware(j.watched_at) < cutoff]
    for job_id in orphans:
        assert job_id is not None
        get_run_logger().info("resuming the watch of job %s", job_id)
        watch_job(job_id)
    return [j for j in orphans if j is not None]


def _aware(value: Any) -> Any:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)
