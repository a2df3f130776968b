"""The MLflow runs of a training job: list, params, metric histories, plots, soft delete/restore, model download.

Every call takes (actor, job_id[, run_id]): the job is read through ``catalog.scoping`` and the run must be
one the platform created for that job (``catalog.models.JobRun``, the catalog's own record — never the run's
tags, which anyone able to write to MLflow could set), so a run id of another team's job, a made-up id and a
malformed id are all refused with the same ``NotFoundError``. The catalog session is closed before MLflow
is called: on SQLite an open transaction holds the write lock, and MLflow may be slow or down.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import select

from catalog.db import session_scope
from catalog.errors import ConflictError, NotFoundError
from catalog.models import ACTIVE_STATUSES, JobRun
from catalog.scoping import Actor, requires
from catalog.services.audit import audited
from catalog.services.training import get_job
from infra import tracking
from infra.settings import get_settings

# An MLflow client (infra.tracking.client()); typed loosely here so that importing this module imports no mlflow.
MlflowClient = Any

# Through the adapter: only infra.tracking imports mlflow on the platform's side (docs/architecture.md).
# What every call here raises when MLflow does not answer or refuses (the API answers it as an upstream error).
TrackingError = tracking.TrackingError
MODEL_ARTIFACT_PATH = "model"
PLOTS_PATH = "plots"  # where the algorithms log their training plots (``plots/<name>.png``)
MAX_PLOTS = 12  # a custom job may log any number of files there; a page shows a bounded few
ZIP_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class JobRef:
    """What the runs API needs of a job, copied out of the (closed) catalog session."""

    job_id: int
    team_id: int
    name: str
    status: str
    experiment_id: str | None
    current_run_id: str | None
    model_name: str | None
    runs: dict[str, str]  # run id → experiment id, every run the platform created for the job


def _job_ref(actor: Actor, job_id: int) -> JobRef:
    with session_scope() as session:
        job = get_job(session, actor=actor, job_id=job_id)
        assert job.id is not None
        runs = session.exec(select(JobRun.run_id, JobRun.experiment_id).where(JobRun.job_id == job.id)).all()
        return JobRef(
            job_id=job.id,
            team_id=job.team_id,
            name=job.name,
            status=job.status,
            experiment_id=job.mlflow_experiment_id,
            current_run_id=job.mlflow_run_id,
            model_name=job.model_name,
            runs=dict(runs),
        )


def run_url(experiment_id: str | None, run_id: str | None) -> str | None:
    """The run in the MLflow UI."""
    if not experiment_id or not run_id:
        return None
    return f"{get_settings().mlflow.uri}/#/experiments/{experiment_id}/runs/{run_id}"


def _client(mlflow: MlflowClient | None) -> MlflowClient:
    return mlflow or tracking.client()


def _owned_run(mlflow: MlflowClient, job: JobRef, run_id: str) -> Any:
    """The run if it belongs to the job; otherwise NotFoundError exactly as for a run that does not exist."""
    run = None
    if isinstance(run_id, str) and run_id in job.runs:
        run = tracking.get_run_data(mlflow, run_id)
    if run is None or str(run.info.experiment_id) != job.runs[run_id]:
        raise NotFoundError("run", run_id)
    return run


@requires("jobs:read")
def list_runs(
    *, actor: Actor, job_id: int, include_deleted: bool = False, mlflow: MlflowClient | None = None
) -> list[dict[str, Any]]:
    """The job's runs, newest first: run id, status, start/end (ms), duration (s), lifecycle stage, metrics."""
    job = _job_ref(actor, job_id)
    out: list[dict[str, Any]] = []
    for experiment_id in sorted(set(job.runs.values())):
        ids = [run_id for run_id, exp in job.runs.items() if exp == experiment_id]
        out += tracking.list_job_runs(
            _client(mlflow), experiment_id=experiment_id, run_ids=ids, include_deleted=include_deleted
        )
    return sorted(out, key=lambda run: run["start_time"] or 0, reverse=True)


@requires("jobs:read")
def run_params(
    *, actor: Actor, job_id: int, run_id: str, mlflow: MlflowClient | None = None
) -> dict[str, str]:
    mlflow = _client(mlflow)
    return dict(_owned_run(mlflow, _job_ref(actor, job_id), run_id).data.params)


@requires("jobs:read")
def metric_names(*, actor: Actor, job_id: int, run_id: str, mlflow: MlflowClient | None = None) -> list[str]:
    mlflow = _client(mlflow)
    return sorted(_owned_run(mlflow, _job_ref(actor, job_id), run_id).data.metrics)


@requires("jobs:read")
def metric_history(
    *, actor: Actor, job_id: int, run_id: str, metric: str | None = None, mlflow: MlflowClient | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Each metric's points (step, timestamp, value), for curves; one metric when ``metric`` is given."""
    mlflow = _client(mlflow)
    run = _owned_run(mlflow, _job_ref(actor, job_id), run_id)
    names = sorted(run.data.metrics)
    if metric is not None:
        if metric not in names:
            raise NotFoundError("metric", metric)
        names = [metric]
    return {name: tracking.metric_history(mlflow, run.info.run_id, name) for name in names}


@requires("jobs:read")
def run_plots(
    *, actor: Actor, job_id: int, run_id: str, mlflow: MlflowClient | None = None
) -> dict[str, bytes]:
    """The run's training plots: ``plots/*.png`` file name → PNG bytes, in name order (at most ``MAX_PLOTS``)."""
    mlflow = _client(mlflow)
    _owned_run(mlflow, _job_ref(actor, job_id), run_id)
    paths = sorted(p for p in tracking.list_artifacts(mlflow, run_id, PLOTS_PATH) if p.endswith(".png"))
    workdir = tempfile.mkdtemp(prefix="mlops-plots-")
    try:
        return {
            Path(path).name: Path(tracking.download_artifacts(mlflow, run_id, path, workdir)).read_bytes()
            for path in paths[:MAX_PLOTS]
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _set_deleted(actor: Actor, job_id: int, run_id: str, deleted: bool, mlflow: MlflowClient | None) -> None:
    mlflow = _client(mlflow)
    job = _job_ref(actor, job_id)
    with (
        session_scope() as session,
        audited(
            session,
            actor=actor,
            action="run.delete" if deleted else "run.restore",
            resource_type="train_job",
            team_id=job.team_id,
        ) as info,
    ):
        info["resource_id"] = job.job_id
        info["detail"] = {"run_id": run_id}
        run = _owned_run(mlflow, job, run_id)
        if deleted and (
            run.info.status in ("RUNNING", "SCHEDULED")
            or (job.status in ACTIVE_STATUSES and job.current_run_id == run_id)
        ):
            raise ConflictError(
                f"run {run_id} of job {job.name!r} is running; stop the job before deleting it"
            )
        tracking.set_deleted(mlflow, run_id, deleted)


@requires("jobs:write")
def delete_run(*, actor: Actor, job_id: int, run_id: str, mlflow: MlflowClient | None = None) -> None:
    """Soft delete (restorable); a running run is refused."""
    _set_deleted(actor, job_id, run_id, True, mlflow)


@requires("jobs:write")
def restore_run(*, actor: Actor, job_id: int, run_id: str, mlflow: MlflowClient | None = None) -> None:
    _set_deleted(actor, job_id, run_id, False, mlflow)


@dataclass(frozen=True, slots=True)
class ModelDownload:
    """A finished run's model as a zip: iterate ``chunks`` once (it removes its temp files when done)."""

    filename: str
    chunks: Iterator[bytes]


@requires("jobs:read")
def download_model(
    *, actor: Actor, job_id: int, run_id: str, mlflow: MlflowClient | None = None
) -> ModelDownload:
    """Check ownership and state now (errors raise here, not mid-stream), then stream the zip lazily."""
    mlflow = _client(mlflow)
    job = _job_ref(actor, job_id)
    run = _owned_run(mlflow, job, run_id)
    if run.info.status != "FINISHED":
        raise ConflictError(
            f"run {run_id} is {run.info.status}; only a finished run's model can be downloaded"
        )
    fetch = _model_fetcher(mlflow, job, run_id)
    workdir = Path(tempfile.mkdtemp(prefix="mlops-model-"))
    try:
        local = Path(fetch(str(workdir)))
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return ModelDownload(filename=f"job{job.job_id}-{run_id}-model.zip", chunks=_zip_stream(local, workdir))


def _model_fetcher(mlflow: MlflowClient, job: JobRef, run_id: str) -> Callable[[str], str]:
    """How to download the run's model: its ``model`` folder (presets), else the newest version of the job's model
    the run registered (a custom job's code may log it elsewhere, e.g. as an MLflow 3 logged model)."""
    if tracking.list_artifacts(mlflow, run_id, MODEL_ARTIFACT_PATH):
        return lambda dst: tracking.download_artifacts(mlflow, run_id, MODEL_ARTIFACT_PATH, dst)
    versions = tracking.run_model_versions(mlflow, job.model_name, run_id) if job.model_name else []
    if not versions:
        raise NotFoundError("model of run", run_id)
    name, version = job.model_name or "", versions[-1]
    return lambda dst: tracking.download_model_version(mlflow, name, version, dst)


class _Pipe:
    """A write-only, unseekable sink: zipfile then writes data descriptors and never seeks back."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.offset = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


def _zip_stream(root: Path, cleanup: Path) -> Iterator[bytes]:
    """Zip ``root`` file by file, yielding bytes as they are produced (memory ~ one chunk, not the model)."""
    pipe = _Pipe()
    try:
        with zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED) as zf:  # type: ignore[arg-type]
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                with (
                    path.open("rb") as src,
                    zf.open(path.relative_to(root).as_posix(), "w", force_zip64=True) as dst,
                ):
                    while block := src.read(ZIP_CHUNK_BYTES):
                        dst.write(block)
                        if pipe.parts:
                            yield pipe.drain()
        if tail := pipe.drain():
            yield tail
    finally:
        shutil.rmtree(cleanup, ignore_errors=True)
