"""Training flows: ``train`` (claim, launch, watch), ``stop-training``, ``watch-training`` and
``reconcile-training`` (resume the watch of running jobs nothing watches, one ``watch-training`` run each).
"""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from catalog.db import session_scope
from catalog.errors import ConflictError
from catalog.models import JobStatus
from catalog.models.base import utcnow
from catalog.scoping import SYSTEM
from catalog.services import training as training_service
from flows.models import reconcile_models_quietly
from flows.watchdog import watch_job
from infra.settings import get_settings
from tasks import job_credentials
from tasks.training import (
    RunHandle,
    TrackingError,
    end_mlflow_run,
    launch_container,
    prepare_run,
    stop_container,
)


def _flow_run_id() -> str | None:
    ident = flow_run.get_id()
    return str(ident) if ident else None


def _launch(job_id: int, flow_run_id: str | None, previous: str) -> RunHandle:
    """Create (or reuse) the MLflow run and start the container; on any failure undo the claim."""
    logger = get_run_logger()
    handle: RunHandle | None = None
    container: str | None = None
    try:
        handle = prepare_run(job_id, flow_run_id)
        with session_scope() as session:
            training_service.attach_run(
                session,
                job_id=job_id,
                run_id=handle.run_id,
                experiment_id=handle.experiment_id,
                flow_run_id=flow_run_id,
            )
        container = launch_container(job_id, handle.run_id)
        with session_scope() as session:
            if not training_service.mark_running(
                session,
                job_id=job_id,
                run_id=handle.run_id,
                experiment_id=handle.experiment_id,
                container_name=container,
            ):
                raise ConflictError(f"job {job_id} left STARTING while its container was launched (stopped?)")
    except Exception as exc:
        logger.error("launch of job %s failed: %s", job_id, exc)
        if container is not None:
            # Launched but no longer wanted (a stop raced the launch): it must not train unwatched.
            stop_container.fn(container)
        with session_scope() as session:
            training_service.restore_status(
                session, job_id=job_id, previous=previous, error=f"launch failed: {exc}"
            )
        if handle is not None:
            end_mlflow_run(handle.run_id, "FAILED")
        _retire(job_id, flow_run_id)
        raise
    logger.info("job %s running in container %s (MLflow run %s)", job_id, container, handle.run_id)
    return handle


@flow(name="train", log_prints=True)
def train(job_id: int) -> dict[str, Any]:
    """Claim the job, launch its training container, and watch it until it ends.

    A retry of the same flow run finds its own claim: a job still STARTING is launched again into the same
    MLflow run, a RUNNING one is only watched again.
    """
    logger = get_run_logger()
    flow_run_id = _flow_run_id()
    with session_scope() as session:
        claim = training_service.claim_start(session, actor=SYSTEM, job_id=job_id, flow_run_id=flow_run_id)
    if claim.resumed_status == JobStatus.RUNNING:
        logger.info("job %s already running under this flow run: resuming the watch", job_id)
        with session_scope() as session:
            run_id = training_service.get_job(session, actor=SYSTEM, job_id=job_id).mlflow_run_id
    else:
        run_id = _launch(job_id, flow_run_id, claim.previous).run_id
    result = watch_job(job_id)
    logger.info("job %s ended: %s %s", job_id, result.status, result.reason or "")
    return {"job_id": job_id, "status": result.status.value, "reason": result.reason, "run_id": run_id}


@flow(name="stop-training")
def stop_training(job_id: int) -> dict[str, Any]:
    """Stop and remove the container, mark the run KILLED, return the job to a startable status.

    The job is marked STOPPED first: a watchdog polling meanwhile then sees a job it no longer owns,
    instead of a vanished container it would report as a failure.
    """
    with session_scope() as session:
        job = training_service.get_job(session, actor=SYSTEM, job_id=job_id)
        stopped = training_service.mark_finished(
            session, job_id=job_id, status=JobStatus.STOPPED, error="stopped by user"
        )
    if job.container_name:
        stop_container(job.container_name)
    if stopped and job.mlflow_run_id:
        error = end_mlflow_run(job.mlflow_run_id, "KILLED")
        if error:
            get_run_logger().warning("could not mark run %s KILLED: %s", job.mlflow_run_id, error)
    _retire(job_id, job.flow_run_id)
    return {"job_id": job_id, "stopped": stopped}


def _retire(job_id: int, flow_run_id: str | None) -> None:
    """Delete the MLflow account of a custom job's start that is over; a failure is the reconciler's to retry."""
    problem = job_credentials.retire(job_id, flow_run_id)
    if problem is not None:
        get_run_logger().warning("could not delete the MLflow account of job %s: %s", job_id, problem)


@flow(name="watch-training", log_prints=True)
def watch_training(job_id: int) -> dict[str, Any]:
    """Watch one running job until it ends (launched by reconcile for jobs nothing watches)."""
    result = watch_job(job_id)
    return {"job_id": job_id, "status": result.status.value, "reason": result.reason}


def _watch_inline(job_ids: list[int]) -> None:
    # Inline mode (scripts, tests) has no deployment runner: watch the orphans side by side, each as its
    # own flow run, so one long job does not hold back the others.
    with ThreadPoolExecutor(max_workers=max(1, len(job_ids)), thread_name_prefix="watch") as pool:
        futures = [pool.submit(contextvars.copy_context().run, watch_training, job_id) for job_id in job_ids]
        for future in futures:
            future.result()


@flow(name="reconcile-training")
def reconcile_training(stale_after_seconds: float | None = None) -> list[int]:
    """Resume watching running jobs that nothing watches (e.g. after a platform restart).

    A job whose watchdog reported within ``stale_after_seconds`` is left alone. Each orphan is claimed
    with a conditional update first, so overlapping reconciles never start two watchers for one job.
    """
    from flows.launch import run_flow

    cfg = get_settings().training
    stale = timedelta(
        seconds=max(3 * cfg.poll_seconds, cfg.watch_stale_seconds)
        if stale_after_seconds is None
        else stale_after_seconds
    )
    stale_before = utcnow() - stale
    with session_scope() as session:
        candidates = training_service.unwatched_jobs(session, stale_before=stale_before)
    claimed: list[int] = []
    for job_id in candidates:
        with session_scope() as session:
            if training_service.claim_watch(session, job_id=job_id, stale_before=stale_before):
                claimed.append(job_id)
    logger = get_run_logger()
    try:
        # Accounts of custom jobs' starts that are over, left by a deletion that failed or a watcher that died.
        deleted = job_credentials.sweep()
        if deleted:
            logger.info("deleted the MLflow accounts of ended custom job starts: %s", deleted)
    except TrackingError as exc:
        logger.warning("could not sweep the MLflow accounts of custom jobs: %s", exc)
    # Versions a training's end could not record, MLflow aliases a gate could not mirror (MLflow was down).
    reconcile_models_quietly()
    if get_settings().prefect.run_mode == "inline":
        _watch_inline(claimed)
    else:
        for job_id in claimed:
            launched = run_flow("watch-training", {"job_id": job_id}, wait=False)
            logger.info("job %s: watch resumed in flow run %s", job_id, launched.flow_run_id)
    return claimed
