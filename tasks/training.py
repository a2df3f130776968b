"""Training tasks: the MLflow run of a job (created, read, ended), the container launch, and the watchdog's
probes. Flows reach MLflow only through these."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from prefect import task

from catalog.db import session_scope
from catalog.models import JobKind, TrainJob
from catalog.scoping import SYSTEM
from catalog.services import custom_jobs, quotas
from catalog.services import training as training_service
from catalog.services.job_config import experiment_name_of
from infra import tracking
from infra.objectstore import ObjectStore, format_s3_uri
from infra.runtime.base import ContainerSpec, ContainerState, ContainerStatus, InputFile, RuntimeError_
from infra.runtime.registry import get_runtime
from infra.settings import get_settings
from infra.tracking import TrackingError
from tasks import job_credentials
from tasks.containers import RELEASE_FILE, RELEASE_PATH_ENV, custom_env, custom_training_spec, training_spec

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunHandle:
    run_id: str
    experiment_id: str
    created: bool


def load_job(job_id: int) -> TrainJob:
    with session_scope() as session:
        return training_service.get_job(session, actor=SYSTEM, job_id=job_id)


@task(name="prepare-mlflow-run", retries=2, retry_delay_seconds=2)
def prepare_run(job_id: int, flow_run_id: str | None) -> RunHandle:
    """The job's run for this flow run (reused on retry), tagged with the job, team and flow run, in the job's
    experiment (a custom job's own); the job's registered model exists, and no job account keeps a grant on
    either (``job_credentials.claim_resources``)."""
    job = load_job(job_id)
    existing = None
    if flow_run_id:
        with session_scope() as session:
            existing = training_service.recorded_run(session, job_id=job_id, flow_run_id=flow_run_id)
    mlflow = tracking.client()
    experiment_id = tracking.ensure_experiment(mlflow, experiment_name_of(job))
    if job.model_name:
        # Made here so that a custom job's account can be granted it, and so that nobody else holds it first.
        tracking.ensure_registered_model(mlflow, job.model_name)
    job_credentials.claim_resources(experiment_id=experiment_id, model_name=job.model_name)
    run_id, created = tracking.find_or_create_run(
        mlflow,
        experiment_id=experiment_id,
        job_id=job_id,
        flow_run_id=flow_run_id,
        run_name=job.name,
        tags={tracking.TAG_TEAM: str(job.team_id), "mlops.job_name": job.name},
        existing_run_id=existing,
    )
    return RunHandle(run_id=run_id, experiment_id=experiment_id, created=created)


def _retry_transient(task_obj: object, task_run: object, state: object) -> bool:
    exc = getattr(state, "result", lambda **_: None)(raise_on_failure=False)
    return isinstance(exc, RuntimeError_) and exc.transient


@task(
    name="launch-training-container",
    retries=3,
    retry_delay_seconds=[1, 2, 4],
    retry_condition_fn=_retry_transient,
)
def launch_container(job_id: int, run_id: str) -> str:
    """Remove any old container of the job, then start a new one. Returns the container name."""
    job = load_job(job_id)
    settings = get_settings()
    runtime = get_runtime()
    if job.kind == JobKind.CUSTOM:
        spec = custom_spec(job, run_id)
    else:
        spec = training_spec(
            job_id=job_id,
            team_id=job.team_id,
            run_id=run_id,
            config_uri=format_s3_uri(settings.s3.bucket, job.config_key or ""),
            cpu_limit=job.claimed_cpu,
            memory_limit_mb=job.claimed_memory_mb,
        )
    runtime.remove(spec.name, force=True)
    runtime.start(spec)
    return spec.name


def custom_spec(job: TrainJob, run_id: str) -> ContainerSpec:
    """A custom job's container: its release handed over as a presigned URL (for the runtime only, valid
    ``MLOPS_S3_PRESIGN_EXPIRY_SECONDS``), the platform's variables for its run, and the MLflow account of this
    start (``job_credentials.issue``: made here, so its password is in no task's parameters or result)."""
    settings = get_settings()
    refused = custom_jobs.current_refusal()
    if refused:
        raise RuntimeError_(refused)
    with session_scope() as session:
        release = custom_jobs.job_release(session, job=job)
    url = ObjectStore.from_settings(settings.s3).presigned_get_url(release.object_key or "")
    account = job_credentials.issue(job)
    return custom_training_spec(
        job_id=int(job.id or 0),
        team_id=job.team_id,
        image=job.image or "",
        command=job.command or [],
        user_env=job.env or {},
        platform_env=custom_env(
            job_id=int(job.id or 0),
            scenario=job.scenario,
            run_id=run_id,
            experiment_id=job.mlflow_experiment_id or "",
            model_name=job.model_name or "",
            account=account,
        ),
        release=InputFile(
            RELEASE_FILE, url, size=release.size_bytes, sha256=release.sha256 or "", env_var=RELEASE_PATH_ENV
        ),
        # What the start claimed (the job's own limits, else the runtime's, else a quota's default).
        cpu_limit=job.claimed_cpu if job.claimed_cpu is not None else job.cpu_limit,
        memory_limit_mb=job.claimed_memory_mb if job.claimed_memory_mb is not None else job.memory_limit_mb,
    )


def registered_versions(model_name: str, run_id: str) -> list[str]:
    """Versions of ``model_name`` registered by run ``run_id``; raises ``TrackingError`` when MLflow does not answer."""
    return tracking.run_model_versions(tracking.client(), model_name, run_id)


def container_status(name: str) -> ContainerStatus:
    try:
        return get_runtime().status([name])[name]
    except RuntimeError_ as exc:
        return ContainerStatus(name=name, state=ContainerState.UNKNOWN, detail=str(exc))


def wait_container(name: str, seconds: float, *, wake_on_exit: bool) -> None:
    """Wait ``seconds``, returning as soon as container ``name`` ends if ``wake_on_exit`` (the runtime's exit event:
    a pidfd, Docker's wait API, a Kubernetes watch). A runtime that cannot be waited on costs the early wake-up
    only: the rest of the interval is slept."""
    until = time.monotonic() + seconds
    if wake_on_exit:
        try:
            get_runtime().wait_exit(name, timeout=seconds)
            return
        except RuntimeError_ as exc:
            log.warning("cannot wait for container %s to end (%s); sleeping until the next poll", name, exc)
    time.sleep(max(0.0, until - time.monotonic()))


def container_logs(name: str) -> str:
    try:
        return get_runtime().logs(name, tail=get_settings().training.log_tail_lines)
    except RuntimeError_ as exc:
        return f"(logs unavailable: {exc})"


@task(name="stop-training-container")
def stop_container(name: str) -> None:
    runtime = get_runtime()
    runtime.stop(name)
    runtime.remove(name, force=True)


def mlflow_run_status(run_id: str) -> str:
    """The MLflow status of a run (``RUNNING``, ``FINISHED``, ``FAILED``, ``KILLED``, ...); raises
    ``TrackingError`` when MLflow does not answer."""
    return tracking.get_run(tracking.client(), run_id).status


def record_model_bytes(run_id: str) -> str | None:
    """Record the size of what a completed run logged (its artifacts: the model, and its plots) against its
    team's stored-bytes quota. Best effort: the error when MLflow did not answer, else None."""
    try:
        size = tracking.artifact_bytes(tracking.client(), run_id)
    except TrackingError as exc:
        return str(exc)
    with session_scope() as session:
        quotas.record_model_bytes(session, run_id=run_id, size=size)
    return None


def end_mlflow_run(run_id: str, status: str) -> str | None:
    """Mark an MLflow run ended with ``status``. Best effort (every caller carries on whatever MLflow says):
    the error when MLflow refused or did not answer, else None."""
    try:
        tracking.end_run(tracking.client(), run_id, status)
    except TrackingError as exc:
        return str(exc)
    return None
