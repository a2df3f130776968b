"""The training watchdog: follows a job's MLflow run and container until the job ends or its deadline passes.

Rules: poll MLflow every ``poll_seconds`` up to ``poll_max`` polls (and at most
``poll_seconds * poll_max`` after the job started, however the watch was interrupted); count consecutive MLflow
errors and at ``error_threshold`` ask the runtime about the container: still running → keep watching at
``slow_poll_seconds``; gone or exited → failed with the reason. Never stop a container because MLflow is
unreachable. A container that ended while MLflow still says RUNNING is failed on that poll.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from catalog.db import session_scope
from catalog.models import JobStatus, TrainJob
from catalog.models.base import utcnow
from catalog.services import training as training_service
from infra.runtime.base import ContainerState
from infra.settings import get_settings
from tasks.training import (
    TrackingError,
    container_logs,
    container_status,
    end_mlflow_run,
    mlflow_run_status,
    stop_container,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WatchResult:
    status: JobStatus
    reason: str | None = None
    polls: int = 0


def _job(job_id: int) -> TrainJob | None:
    with session_scope() as session:
        return session.get(TrainJob, job_id)


def _finish(job_id: int, status: JobStatus, reason: str | None, container: str, polls: int,
            *, with_logs: bool, stop: bool = False) -> WatchResult:
    # Logs first: stopping removes the container, and with it the logs on some runtimes.
    tail = container_logs(container) if with_logs else None
    if stop:
        stop_container.fn(container)
    with session_scope() as session:
        won = training_service.mark_finished(session, job_id=job_id, status=status, error=reason, log_tail=tail)
    if not won:
        # A stop (or another watcher) ended the job first; report what it decided.
        current = _job(job_id)
        return WatchResult(status=JobStatus(current.status) if current else JobStatus.STOPPED, polls=polls)
    return WatchResult(status=status, reason=reason, polls=polls)


def watch_job(job_id: int, *, sleep: Callable[[float], None] = time.sleep) -> WatchResult:
    cfg = get_settings().training
    job = _job(job_id)
    if job is None or job.mlflow_run_id is None or job.container_name is None:
        raise ValueError(f"job {job_id} has no run or container to watch")
    run_id, container = job.mlflow_run_id, job.container_name
    # The deadline counts from the start, not from this watch: a watch resumed after a restart (or a
    # slow-polling stretch while MLflow is down) must not extend it.
    budget = timedelta(seconds=cfg.poll_seconds * cfg.poll_max)
    deadline = (job.started_at or utcnow()) + budget
    errors, interval, polls = 0, cfg.poll_seconds, 0
    while polls < cfg.poll_max:
        remaining = (deadline - utcnow()).total_seconds()
        if remaining <= 0:
            break
        sleep(min(interval, remaining))
        polls += 1
        current = _job(job_id)
        if current is None or current.status != JobStatus.RUNNING:
            # Stopped by a user or finished by another watcher: nothing left to do here.
            return WatchResult(status=JobStatus(current.status) if current else JobStatus.STOPPED, polls=polls)
        with session_scope() as session:
            training_service.touch_watch(session, job_id=job_id)
        try:
            run_status = mlflow_run_status(run_id)
        except TrackingError as exc:
            errors += 1
            log.warning("MLflow unreachable (%d in a row): %s", errors, exc)
            if errors < cfg.error_threshold:
                continue
            state = container_status(container)
            if state.is_alive or state.state == ContainerState.UNKNOWN:
                interval = cfg.slow_poll_seconds
                continue
            reason = (f"MLflow unreachable for {errors} polls and the container is {state.state.value}"
                      + (f" (exit code {state.exit_code})" if state.exit_code is not None else ""))
            return _finish(job_id, JobStatus.FAILED, reason, container, polls, with_logs=True)
        errors, interval = 0, cfg.poll_seconds
        if run_status == "FINISHED":
            return _finish(job_id, JobStatus.COMPLETED, None, container, polls, with_logs=False)
        if run_status in ("FAILED", "KILLED"):
            # A run KILLED from outside (MLflow UI) leaves its container training: stop it too.
            alive = container_status(container).is_alive
            return _finish(job_id, JobStatus.FAILED, f"MLflow run {run_status}", container, polls, with_logs=True,
                           stop=alive)
        state = container_status(container)
        if state.state in (ContainerState.EXITED, ContainerState.FAILED, ContainerState.NOT_FOUND):
            # The run may have finished between the two reads: look once more before calling it a failure.
            try:
                run_status = mlflow_run_status(run_id)
            except TrackingError:
                run_status = "UNKNOWN"
            if run_status == "FINISHED":
                return _finish(job_id, JobStatus.COMPLETED, None, container, polls, with_logs=False)
            reason = f"container {state.state.value}" + (
                f" with exit code {state.exit_code}" if state.exit_code is not None else "") + (
                f": {state.detail}" if state.detail else "") + " before the MLflow run ended"
            _end_run_quietly(run_id, "FAILED")
            return _finish(job_id, JobStatus.FAILED, reason, container, polls, with_logs=True)
    reason = (f"watchdog deadline reached ({polls} polls, {budget.total_seconds():.0f} s since the start); "
              "container stopped")
    result = _finish(job_id, JobStatus.FAILED, reason, container, polls, with_logs=True, stop=True)
    _end_run_quietly(run_id, "KILLED")
    return result


def _end_run_quietly(run_id: str, status: str) -> None:
    error = end_mlflow_run(run_id, status)
    if error:
        log.warning("could not end MLflow run %s: %s", run_id, error)
