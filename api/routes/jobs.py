"""Training jobs and their MLflow runs: create (parameters checked against the algorithm's declarations), list
(paged; search, scenario, status and team filters as the dashboard's), show (its algorithm, release, dataset
and links), update, start and stop (the `train` and `stop-training` flows, launched as the dashboard launches
them) and the progress of a launched flow run; a job's runs: list, params, metric names and histories, soft
delete and restore, and a run's model as a zip streamed as it is built.

Every call reads the job through the catalog services (``catalog.scoping``): another team's job answers the
same 404 as a missing one. Catalog sessions are closed before Prefect or MLflow is called (on SQLite an open
transaction holds the write lock, and an inline flow run writes the job while the launch waits for it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse
from sqlmodel import Session

from api.deps import ActorDep, IdPath, SessionDep, TeamFilter, team_for_create
from api.errors import ApiError
from api.launching import launch, progress
from api.paging import Page, PageDep
from catalog.db import session_scope
from catalog.models import ACTIVE_STATUSES, JobStatus, TrainJob
from catalog.scenarios import Scenario
from catalog.scoping import Actor
from catalog.services import runs as runs_service
from catalog.services import training as training_service
from flows.launch import flow_run_url
from infra.objectstore import ObjectStore
from infra.settings import get_settings
from mlops_lite.schemas.jobs import CreateJob, JobDetail, JobOut, MetricPoint, RunDeleted, RunOut, UpdateJob
from mlops_lite.schemas.runs import Launch, Progress

router = APIRouter(tags=["jobs"])

RunPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="MLflow run id (`GET /jobs/{job_id}/runs`).",
    ),
]


def detail(session: Session, job: TrainJob) -> JobDetail:
    return JobDetail.model_validate(job).model_copy(
        update={
            **training_service.job_context(session, job),
            "flow_run_url": flow_run_url(job.flow_run_id),
            "mlflow_run_url": runs_service.run_url(job.mlflow_experiment_id, job.mlflow_run_id),
        }
    )


@contextmanager
def mlflow_calls() -> Iterator[None]:
    """MLflow not answering (or refusing) is the platform's upstream failing, not the caller's mistake."""
    try:
        yield
    except runs_service.TrackingError as exc:
        raise ApiError(502, str(exc), "upstream_error") from None


@router.post("/jobs", response_model=JobDetail, status_code=201, summary="Create a training job")
def create_job(body: CreateJob, actor: ActorDep) -> JobDetail:
    """The job's config is stored in the object store with its row; bad parameters are a 422 naming the field,
    and store nothing. ``model``: the team's model its versions go to (404 unknown, 422 of another scenario);
    ``auto_promote``: each completed start asks that model's promotion gate."""
    team_id = team_for_create(actor, body.team_id)
    store = ObjectStore.from_settings(get_settings().s3)
    with session_scope() as session:
        job, previous = training_service.create_job(
            session,
            actor=actor,
            team_id=team_id,
            name=body.name,
            scenario=body.scenario,
            algorithm=body.algorithm,
            release_id=body.release_id,
            params=body.params,
            max_evals=body.max_evals,
            description=body.description,
            model=body.model,
            auto_promote=body.auto_promote,
            store=store,
        )
        out = detail(session, job)
    if previous:
        store.delete(previous)  # only once the catalog points at the new config (committed above)
    return out


@router.get("/jobs", response_model=Page[JobOut], summary="List training jobs")
def list_jobs(
    actor: ActorDep,
    session: SessionDep,
    paging: PageDep,
    teams: TeamFilter,
    scenario: Annotated[Scenario | None, Query()] = None,
    status: Annotated[JobStatus | None, Query()] = None,
) -> Page[JobOut]:
    """Newest first; ``q`` searches names."""
    total, rows = training_service.list_jobs(
        session,
        actor=actor,
        scenario=scenario.value if scenario else None,
        status=status.value if status else None,
        team_id=teams.team_id,
        include_children=teams.include_children,
        search=paging.q,
        offset=paging.offset,
        limit=paging.limit,
    )
    return Page(
        items=[JobOut.model_validate(r) for r in rows], total=total, offset=paging.offset, limit=paging.limit
    )


@router.get("/jobs/{job_id:int}", response_model=JobDetail, summary="Show a training job")
def get_job(job_id: IdPath, actor: ActorDep, session: SessionDep) -> JobDetail:
    return detail(session, training_service.get_job(session, actor=actor, job_id=job_id))


@router.patch("/jobs/{job_id:int}", response_model=JobDetail, summary="Change a training job")
def update_job(job_id: IdPath, body: UpdateJob, actor: ActorDep) -> JobDetail:
    """Parameters, release or tuning trials of a job that is not starting or running (409 if it is); a new
    config revision is stored and the previous one deleted."""
    store = ObjectStore.from_settings(get_settings().s3)
    with session_scope() as session:
        job, previous = training_service.update_job(
            session,
            actor=actor,
            job_id=job_id,
            params=body.params,
            release_id=body.release_id,
            max_evals=body.max_evals,
            store=store,
        )
        out = detail(session, job)
    if previous:
        store.delete(previous)  # only once the catalog points at the new config (committed above)
    return out


def _row(actor: Actor, job_id: int) -> TrainJob:
    with session_scope() as session:
        return training_service.get_job(session, actor=actor, job_id=job_id)


@router.post(
    "/jobs/{job_id:int}/start", response_model=Launch, status_code=202, summary="Start a training job"
)
def start_job(job_id: IdPath, actor: ActorDep) -> Launch:
    """Launches the `train` flow, which claims the job, starts its container and watches it to its end; follow
    it with ``GET /jobs/{job_id}/progress?flow_run_id=``. 409 when the job is already starting or running
    (a start racing another is refused by the flow's claim: its flow run fails on a conflict), 409
    ``quota_exceeded`` when the start would exceed a quota of the job's team (the message names it and its
    use; the flow's claim checks again, atomically); 403 without ``jobs:start``."""
    with session_scope() as session:  # jobs:start, and the team's quotas now (409 quota_exceeded)
        job = training_service.request_start(session, actor=actor, job_id=job_id)
    if job.status in ACTIVE_STATUSES:
        raise ApiError(
            409,
            f"training job {job.name!r} was already started ({job.status}, flow run {job.flow_run_id}); "
            f"follow it with `mlops jobs status {job_id}`",
            "conflict",
        )
    return launch("train", {"job_id": job_id})


@router.post("/jobs/{job_id:int}/stop", response_model=Launch, status_code=202, summary="Stop a training job")
def stop_job(job_id: IdPath, actor: ActorDep) -> Launch:
    """Launches the `stop-training` flow (stops the container, marks the run KILLED and the job stopped)."""
    with session_scope() as session:
        training_service.request_stop(session, actor=actor, job_id=job_id)
    return launch("stop-training", {"job_id": job_id})


@router.get("/jobs/{job_id:int}/progress", response_model=Progress, summary="Follow a start or stop of a job")
def job_progress(
    job_id: IdPath,
    actor: ActorDep,
    flow_run_id: Annotated[
        str, Query(min_length=1, max_length=64, description="The flow run a start or stop answered.")
    ],
) -> Progress:
    """The flow run's state beside the job's status; 404 unless the flow run works on this job."""
    _row(actor, job_id)  # scoping first: another team's job is a 404 before Prefect is asked

    def row() -> tuple[str | None, str | None, str | None]:
        job = _row(actor, job_id)
        return job.status, job.flow_run_id, job.error

    return progress(flow_run_id, expect={"job_id": job_id}, read_row=row)


def _time(millis: int | None) -> datetime | None:
    return datetime.fromtimestamp(millis / 1000, UTC) if millis else None


@router.get("/jobs/{job_id:int}/runs", response_model=list[RunOut], summary="List a job's MLflow runs")
def list_runs(
    job_id: IdPath,
    actor: ActorDep,
    deleted: Annotated[bool, Query(description="Include soft-deleted runs.")] = False,
) -> list[RunOut]:
    """Newest first, with status, start, end, duration and each metric's latest value."""
    with mlflow_calls():
        rows = runs_service.list_runs(actor=actor, job_id=job_id, include_deleted=deleted)
    return [
        RunOut.model_validate({**r, "start_time": _time(r["start_time"]), "end_time": _time(r["end_time"])})
        for r in rows
    ]


@router.get(
    "/jobs/{job_id:int}/runs/{run_id}/params",
    response_model=dict[str, str],
    summary="The parameters a run logged",
)
def run_params(job_id: IdPath, run_id: RunPath, actor: ActorDep) -> dict[str, str]:
    with mlflow_calls():
        return runs_service.run_params(actor=actor, job_id=job_id, run_id=run_id)


@router.get(
    "/jobs/{job_id:int}/runs/{run_id}/metrics", response_model=list[str], summary="A run's metric names"
)
def metric_names(job_id: IdPath, run_id: RunPath, actor: ActorDep) -> list[str]:
    with mlflow_calls():
        return runs_service.metric_names(actor=actor, job_id=job_id, run_id=run_id)


@router.get(
    "/jobs/{job_id:int}/runs/{run_id}/metrics/history",
    response_model=dict[str, list[MetricPoint]],
    summary="A run's metric histories",
)
def metric_history(
    job_id: IdPath,
    run_id: RunPath,
    actor: ActorDep,
    metric: Annotated[str | None, Query(min_length=1, max_length=250, description="One metric only.")] = None,
) -> dict[str, list[MetricPoint]]:
    """Each metric's points (step, timestamp, value) in step order."""
    with mlflow_calls():
        history = runs_service.metric_history(actor=actor, job_id=job_id, run_id=run_id, metric=metric)
    return {name: [MetricPoint.model_validate(p) for p in points] for name, points in history.items()}


@router.delete("/jobs/{job_id:int}/runs/{run_id}", response_model=RunDeleted, summary="Soft-delete a run")
def delete_run(job_id: IdPath, run_id: RunPath, actor: ActorDep) -> RunDeleted:
    """Restorable; the run of a job that is running is refused (409)."""
    with mlflow_calls():
        runs_service.delete_run(actor=actor, job_id=job_id, run_id=run_id)
    return RunDeleted(run_id=run_id, deleted=True)


@router.post(
    "/jobs/{job_id:int}/runs/{run_id}/restore", response_model=RunDeleted, summary="Restore a deleted run"
)
def restore_run(job_id: IdPath, run_id: RunPath, actor: ActorDep) -> RunDeleted:
    with mlflow_calls():
        runs_service.restore_run(actor=actor, job_id=job_id, run_id=run_id)
    return RunDeleted(run_id=run_id, deleted=False)


@router.get(
    "/jobs/{job_id:int}/runs/{run_id}/model",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "The run's model folder as a zip."}},
    summary="Download a run's model",
)
def download_model(job_id: IdPath, run_id: RunPath, actor: ActorDep) -> StreamingResponse:
    """A finished run's model (its MLmodel and files), zipped as it is sent: the API never holds the whole zip.
    Ownership and state are checked before the first byte (409 for a run that has not finished)."""
    with mlflow_calls():
        download = runs_service.download_model(actor=actor, job_id=job_id, run_id=run_id)
    return StreamingResponse(
        download.chunks,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{download.filename}"'},
    )
