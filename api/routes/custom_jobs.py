"""Custom training jobs ("bring your own training code"): create one, show one. Starting, stopping, following,
runs and models are the generic job endpoints' (``api.routes.jobs``): a custom job is a training job."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ActorDep, IdPath, SessionDep, team_for_create
from catalog.errors import NotFoundError
from catalog.models import JobKind, TrainJob
from catalog.services import custom_jobs as custom_jobs_service
from catalog.services import training as training_service
from mlops_lite.schemas.custom_jobs import CreateCustomJob, CustomJobOut

router = APIRouter(tags=["jobs"])


@router.post(
    "/jobs/custom",
    response_model=CustomJobOut,
    status_code=201,
    summary="Create a custom training job",
    description="A job running your image and command, with the release zip at $MLOPS_RELEASE_PATH and the "
    "MLflow run the platform creates for each start in MLFLOW_RUN_ID; it succeeds when the command exits 0 "
    "having registered a version of $MLOPS_MODEL_NAME from that run. Start it like any job.",
)
def create_custom_job(body: CreateCustomJob, actor: ActorDep, session: SessionDep) -> TrainJob:
    # A new job has no previous config to clean up: the second value is always None here.
    job, _ = custom_jobs_service.create_custom_job(
        session,
        actor=actor,
        team_id=team_for_create(actor, body.team_id),
        name=body.name,
        release_id=body.release_id,
        image=body.image,
        command=body.command,
        env=body.env,
        cpu_limit=body.cpu_limit,
        memory_limit_mb=body.memory_limit_mb,
        description=body.description,
        model=body.model,
        auto_promote=body.auto_promote,
    )
    return job


@router.get("/jobs/custom/{job_id:int}", response_model=CustomJobOut, summary="Show a custom training job")
def get_custom_job(job_id: IdPath, actor: ActorDep, session: SessionDep) -> TrainJob:
    job = training_service.get_job(session, actor=actor, job_id=job_id)
    if job.kind != JobKind.CUSTOM:
        raise NotFoundError("custom training job", job_id)
    return job
