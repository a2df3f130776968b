"""The training watchdog: follows a job's container and MLflow run until the job ends or its deadline passes.

A thin loop around ``flows.watch_rules.decide`` (the rules, pure): wait as the last action says — until the
container ends (the runtime's ``wait_exit``: pidfd, Docker's wait API, a Kubernetes watch) or the poll interval
passes, whichever comes first — then gather one ``Round`` (catalog row, container status, MLflow run status,
time left) and apply the action decided. The end of a run is therefore noticed when its container exits, not
at the next poll; the MLflow poll every ``MLOPS_TRAIN_POLL_SECONDS`` stays as the safety net for an event that
cannot be had (the runtime unreachable) or was lost, and for MLflow being down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from catalog.db import session_scope
from catalog.models import JobKind, JobStatus, TrainJob
from catalog.models.base import utcnow
from catalog.services import training as training_service
from flows.models import after_training
from flows.watch_rules import Finish, Leave, Round, Rules, Wait, decide, first_action
from infra.runtime.base import ContainerState, ContainerStatus
from infra.settings import get_settings
from tasks import job_credentials
from tasks.training import (
    TrackingError,
    container_logs,
    container_status,
    end_mlflow_run,
    mlflow_run_status,
    record_model_bytes,
    registered_versions,
    stop_container,
    wait_container,
)

log = logging.getLogger(__name__)

# How the loop waits between rounds: (container name, the Wait decided). Tests wrap it to count rounds.
Pause = Callable[[str, Wait], None]


@dataclass(frozen=True, slots=True)
class WatchResult:
    status: JobStatus
    reason: str | None = None
    polls: int = 0


def pause_for_round(container: str, wait: Wait) -> None:
    """Wait ``wait.seconds``, returning early when the container ends if ``wait.wake_on_exit``."""
    wait_container(container, wait.seconds, wake_on_exit=wait.wake_on_exit)


def _job(job_id: int) -> TrainJob | None:
    with session_scope() as session:
        return session.get(TrainJob, job_id)


def _observe(
    job_id: int, run_id: str, container: str, *, errors: int, polls: int, deadline: datetime
) -> Round:
    remaining = (deadline - utcnow()).total_seconds()
    job = _job(job_id)
    if job is None or job.status != JobStatus.RUNNING:
        return Round(
            job_status=JobStatus(job.status) if job else None,
            container=ContainerStatus(container, ContainerState.UNKNOWN),
            run_status=None,
            mlflow_errors=errors,
            polls=polls,
            remaining_seconds=remaining,
        )
    with session_scope() as session:
        training_service.touch_watch(session, job_id=job_id)
    # The container first, then the run: the training script ends its run before its process exits, so an
    # ended container read first and a run still RUNNING read after it means the run really did not end.
    state = container_status(container)
    versions: tuple[str, ...] | None = None
    try:
        run_status: str | None = mlflow_run_status(run_id)
        if job.kind == JobKind.CUSTOM and state.state == ContainerState.EXITED:
            # The command is done: did its run register the job's model? (read after the exit, so it is final)
            versions = tuple(registered_versions(job.model_name or "", run_id))
        errors = 0
    except TrackingError as exc:
        run_status, errors = None, errors + 1
        log.warning("MLflow unreachable (%d in a row): %s", errors, exc)
    return Round(
        job_status=JobStatus.RUNNING,
        container=state,
        run_status=run_status,
        mlflow_errors=errors,
        polls=polls,
        remaining_seconds=remaining,
        kind=job.kind,
        model_name=job.model_name,
        model_versions=versions,
    )


def _finish(job_id: int, run_id: str, container: str, action: Finish, polls: int) -> WatchResult:
    # Logs first: stopping removes the container, and with it the logs on some runtimes.
    tail = container_logs(container) if action.with_logs else None
    if action.stop_container:
        stop_container.fn(container)
    with session_scope() as session:
        won = training_service.mark_finished(
            session, job_id=job_id, status=action.status, error=action.reason, log_tail=tail
        )
    if not won:
        # A stop (or another watcher) ended the job first; report what it decided, and leave its run alone.
        current = _job(job_id)
        return WatchResult(status=JobStatus(current.status) if current else JobStatus.STOPPED, polls=polls)
    if action.end_run:
        _end_run_quietly(run_id, action.end_run)
    if action.status == JobStatus.COMPLETED:
        problem = record_model_bytes(run_id)  # counted in the team's stored bytes
        if problem is not None:
            log.warning("could not measure the model of run %s: %s", run_id, problem)
        # The versions the run registered become the model's in the catalog; with auto_promote, the gate runs.
        after_training(job_id, run_id)
    return WatchResult(status=action.status, reason=action.reason, polls=polls)


def watch_job(job_id: int, *, pause: Pause = pause_for_round) -> WatchResult:
    job = _job(job_id)
    if job is None or job.mlflow_run_id is None or job.container_name is None:
        raise ValueError(f"job {job_id} has no run or container to watch")
    run_id, container = job.mlflow_run_id, job.container_name
    # The start being watched: its MLflow account (a custom job's) goes when it ends, whoever ends it.
    start = (job_id, job.flow_run_id) if job.kind == JobKind.CUSTOM else None
    rules = Rules.from_settings(get_settings().training)
    # The deadline counts from the start, not from this watch: a watch resumed after a restart (or a
    # slow-polling stretch while MLflow is down) must not extend it.
    deadline = (job.started_at or utcnow()) + timedelta(seconds=rules.budget_seconds)
    errors, polls = 0, 0
    action = first_action((deadline - utcnow()).total_seconds(), rules)
    while isinstance(action, Wait):
        pause(container, action)
        polls += 1
        now = _observe(job_id, run_id, container, errors=errors, polls=polls, deadline=deadline)
        errors = now.mlflow_errors
        action = decide(now, rules)
    if isinstance(action, Leave):
        result = WatchResult(status=action.status or JobStatus.STOPPED, polls=polls)
    else:
        result = _finish(job_id, run_id, container, action, polls)
    if start is not None:
        _retire_quietly(*start)
    return result


def _retire_quietly(job_id: int, flow_run_id: str | None) -> None:
    problem = job_credentials.retire(job_id, flow_run_id)
    if problem is not None:
        log.warning(
            "could not delete the MLflow account of job %s (the reconciler will): %s", job_id, problem
        )


def _end_run_quietly(run_id: str, status: str) -> None:
    problem = end_mlflow_run(run_id, status)
    if problem is not None:
        log.warning("could not end MLflow run %s: %s", run_id, problem)
