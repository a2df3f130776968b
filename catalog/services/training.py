"""Training jobs: creation with validation, the config JSON in S3 (transactional), and the status machine.
Both kinds share all but creation: the custom kind (the user's image and command) is created by
``catalog.services.custom_jobs``.

Status changes are conditional updates so that of many concurrent starts exactly one claims the job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, or_, true
from sqlmodel import Session, col, select

from catalog.errors import ConflictError, NotFoundError, ValidationError
from catalog.forms import validate_params
from catalog.models import (
    ACTIVE_STATUSES,
    STARTABLE_STATUSES,
    AlgorithmConfig,
    Dataset,
    DatasetRelease,
    JobKind,
    JobRun,
    JobStatus,
    TrainJob,
)
from catalog.models.base import utcnow
from catalog.scenarios import parse_scenario
from catalog.scoping import Actor, get_scoped, requires, scoped, team_filter
from catalog.services import quotas
from catalog.services.audit import audited
from catalog.services.common import check_name, page, transition
from catalog.services.job_config import store_config
from catalog.services.models import target_model
from catalog.services.releases import require_usable_release
from catalog.weights import check_weights_params
from infra.objectstore import ObjectStore

MAX_EVALS_LIMIT = 500
# A job that ends, fails, is stopped or restored holds nothing against its team's CPU/memory quotas.
RELEASED = {"claimed_cpu": None, "claimed_memory_mb": None}


def _require_free_name(session: Session, *, team_id: int, name: str) -> None:
    if session.exec(select(TrainJob.id).where(TrainJob.team_id == team_id, TrainJob.name == name)).first():
        raise ConflictError(f"a training job named {name!r} already exists in this team")


def _resolve_algorithm(session: Session, *, scenario: str, algorithm: str | int) -> AlgorithmConfig:
    stmt = select(AlgorithmConfig).where(AlgorithmConfig.scenario == scenario)
    stmt = (
        stmt.where(AlgorithmConfig.id == algorithm)
        if isinstance(algorithm, int)
        else stmt.where(AlgorithmConfig.name == algorithm)
    )
    row = session.exec(stmt).first()
    if row is None:
        raise NotFoundError(f"{scenario} algorithm", algorithm)
    if not row.enabled:
        raise ValidationError(f"algorithm {row.name!r} is disabled")
    return row


@requires("jobs:write")
def create_job(
    session: Session,
    *,
    actor: Actor,
    team_id: int,
    name: str,
    scenario: str,
    algorithm: str | int,
    release_id: int,
    params: dict[str, Any] | None = None,
    max_evals: int = 0,
    description: str = "",
    model: str | int | None = None,
    auto_promote: bool = False,
    store: ObjectStore | None = None,
) -> tuple[TrainJob, str | None]:
    """Create a job and store its config. Returns (job, previous config key to delete after commit). ``model``:
    the team's model (id or name) its versions go to; default: the model named after the job, made if needed.
    ``auto_promote``: each completed start asks the model's promotion gate for its version."""
    with audited(
        session, actor=actor, action="train_job.create", resource_type="train_job", team_id=team_id
    ) as info:
        actor.require_team(team_id)
        scenario = parse_scenario(scenario).value
        name = check_name(name, what="job name")
        algo = _resolve_algorithm(session, scenario=scenario, algorithm=algorithm)
        require_usable_release(
            session, actor=actor, release_id=release_id, team_id=team_id, scenario=scenario
        )
        clean = check_weights_params(algo.name, validate_params(algo.form_config, params or {}))
        if not 0 <= int(max_evals) <= MAX_EVALS_LIMIT:
            raise ValidationError(f"max_evals must be between 0 and {MAX_EVALS_LIMIT}")
        if max_evals and not algo.search_space:
            raise ValidationError(f"algorithm {algo.name!r} has no search space to tune")
        _require_free_name(session, team_id=team_id, name=name)
        job = TrainJob(
            team_id=team_id,
            scenario=scenario,
            name=name,
            description=description,
            algorithm_id=algo.id,
            release_id=release_id,
            params=clean,
            max_evals=int(max_evals),
            auto_promote=bool(auto_promote),
            created_by=actor.user_id,
        )
        target = target_model(
            session, actor=actor, team_id=team_id, scenario=scenario, job_name=name, model=model
        )
        job.model_id, job.model_name = target.id, target.mlflow_name
        session.add(job)
        session.flush()
        previous = store_config(session, job, store)
        info["resource_id"] = job.id
        info["detail"] = {
            "algorithm": algo.name,
            "release_id": release_id,
            "params": clean,
            "model_id": target.id,
            "auto_promote": job.auto_promote,
        }
    return job, previous


@requires("jobs:write")
def update_job(
    session: Session,
    *,
    actor: Actor,
    job_id: int,
    params: dict[str, Any] | None = None,
    release_id: int | None = None,
    max_evals: int | None = None,
    store: ObjectStore | None = None,
) -> tuple[TrainJob, str | None]:
    job = get_job(session, actor=actor, job_id=job_id)
    with audited(
        session, actor=actor, action="train_job.update", resource_type="train_job", team_id=job.team_id
    ) as info:
        info["resource_id"] = job.id
        if job.status in ACTIVE_STATUSES:
            raise ConflictError(f"job {job.name!r} is {job.status}; stop it before editing")
        if job.kind == JobKind.CUSTOM and (params is not None or max_evals is not None):
            raise ValidationError(f"job {job.name!r} runs its own code: it has no parameters or tuning")
        if release_id is not None:
            require_usable_release(
                session, actor=actor, release_id=release_id, team_id=job.team_id, scenario=job.scenario
            )
            job.release_id = release_id
        if params is not None:
            algo = session.get(AlgorithmConfig, job.algorithm_id)
            assert algo is not None
            job.params = check_weights_params(algo.name, validate_params(algo.form_config, params))
        if max_evals is not None:
            if not 0 <= int(max_evals) <= MAX_EVALS_LIMIT:
                raise ValidationError(f"max_evals must be between 0 and {MAX_EVALS_LIMIT}")
            job.max_evals = int(max_evals)
        previous = store_config(session, job, store)
    return job, previous


@requires("jobs:read")
def get_job(session: Session, *, actor: Actor, job_id: int) -> TrainJob:
    return get_scoped(session, TrainJob, job_id, actor, kind="training job")


@requires("jobs:read")
def list_jobs(
    session: Session,
    *,
    actor: Actor,
    scenario: str | None = None,
    status: str | None = None,
    statuses: Sequence[str] | None = None,
    search: str | None = None,
    team_id: int | None = None,
    include_children: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> tuple[int, list[TrainJob]]:
    """One page of training jobs, newest first, optionally of one status or of any of ``statuses``, of one
    team (with ``include_children``, of its subtree; a team the actor cannot see reads as nonexistent)."""
    stmt = scoped(select(TrainJob), TrainJob, actor)
    if scenario:
        stmt = stmt.where(TrainJob.scenario == parse_scenario(scenario).value)
    teams = team_filter(actor, team_id, include_children)
    if teams is not None:
        stmt = stmt.where(col(TrainJob.team_id).in_(teams))
    if status:
        stmt = stmt.where(TrainJob.status == status)
    if statuses is not None:
        stmt = stmt.where(col(TrainJob.status).in_([str(s) for s in statuses]))
    if search:
        stmt = stmt.where(col(TrainJob.name).icontains(search))
    return page(session, stmt, offset=offset, limit=limit, order_by=col(TrainJob.id).desc())


@requires("jobs:start")
def request_start(session: Session, *, actor: Actor, job_id: int) -> TrainJob:
    """What every edge calls before it launches the ``train`` flow: the actor may start the job (``jobs:start``)
    and the start fits the team's quotas now (QuotaExceededError naming the quota and its use). The flow's
    ``claim_start`` decides again, atomically."""
    job = get_job(session, actor=actor, job_id=job_id)
    if job.status in ACTIVE_STATUSES:
        return job  # already started: the edge says so (and by which flow run)
    with audited(
        session, actor=actor, action="train_job.start", resource_type="train_job", team_id=job.team_id
    ) as info:
        info["resource_id"] = job.id
        quotas.precheck(session, row=job)
    return job


@requires("jobs:start")
def request_stop(session: Session, *, actor: Actor, job_id: int) -> TrainJob:
    """What every edge calls before it launches the ``stop-training`` flow (``jobs:start``)."""
    job = get_job(session, actor=actor, job_id=job_id)
    with audited(
        session, actor=actor, action="train_job.stop", resource_type="train_job", team_id=job.team_id
    ) as info:
        info["resource_id"] = job.id
    return job


@dataclass(frozen=True, slots=True)
class Claim:
    """A won start: the status to restore if the launch fails, and whether this flow run already held it."""

    previous: str
    resumed_status: str | None = None  # STARTING or RUNNING when a retried flow run finds its own claim


@requires("jobs:start")
def claim_start(session: Session, *, actor: Actor, job_id: int, flow_run_id: str | None) -> Claim:
    """Atomically move a startable job to STARTING.

    A retried flow run (same flow run id) that finds the job still active under its own claim resumes it
    instead of being told "already running" by itself.
    """
    job = get_job(session, actor=actor, job_id=job_id)
    previous = job.status
    if flow_run_id and previous in ACTIVE_STATUSES and job.flow_run_id == flow_run_id:
        return Claim(previous=JobStatus.FAILED, resumed_status=previous)
    held = quotas.Resources(None, None)
    if previous in STARTABLE_STATUSES:
        # QuotaExceededError; may wait for the team chain's lock, then re-reads the job (None: started meanwhile).
        held = quotas.claim(session, row=job) or held
        previous = job.status
    # The algorithm must still be enabled in the same statement: a disable racing this start either
    # sees the job active (and is refused) or makes this claim fail.
    algorithm_enabled = or_(
        TrainJob.kind == JobKind.CUSTOM,
        exists().where(AlgorithmConfig.id == TrainJob.algorithm_id, AlgorithmConfig.enabled == true()),
    )
    if previous not in STARTABLE_STATUSES or not transition(
        session,
        TrainJob,
        job_id,
        from_statuses=(previous,),
        to_status=JobStatus.STARTING,
        values={
            "flow_run_id": flow_run_id,
            "error": None,
            "log_tail": None,
            "started_at": utcnow(),
            "finished_at": None,
            "mlflow_run_id": None,
            "container_name": None,
            "claimed_cpu": held.cpus,
            "claimed_memory_mb": held.memory_mb,
        },
        where=(algorithm_enabled,),
    ):
        session.refresh(job)
        algo = session.get(AlgorithmConfig, job.algorithm_id) if job.algorithm_id else None
        if algo is not None and not algo.enabled:
            raise ConflictError(
                f"algorithm {algo.name!r} is disabled; training job {job.name!r} cannot start"
            )
        raise ConflictError(f"training job {job.name!r} is already running")
    return Claim(previous=previous)


def attach_run(
    session: Session, *, job_id: int, run_id: str, experiment_id: str, flow_run_id: str | None = None
) -> bool:
    """Record the run while the job is still STARTING, so a stop racing the launch can mark it KILLED, and
    as one of the job's runs (``JobRun``: what decides which runs are the job's, see catalog.services.runs)."""
    if not transition(
        session,
        TrainJob,
        job_id,
        from_statuses=(JobStatus.STARTING,),
        to_status=JobStatus.STARTING,
        values={"mlflow_run_id": run_id, "mlflow_experiment_id": experiment_id},
    ):
        return False
    if session.get(JobRun, run_id) is None:
        session.add(
            JobRun(run_id=run_id, job_id=job_id, experiment_id=experiment_id, flow_run_id=flow_run_id)
        )
    return True


def run_ids(session: Session, *, job_id: int) -> set[str]:
    """Every MLflow run the platform created for the job (its models may be served; no other run's)."""
    return set(session.exec(select(JobRun.run_id).where(JobRun.job_id == job_id)).all())


def recorded_run(session: Session, *, job_id: int, flow_run_id: str) -> str | None:
    """The run this flow run already created for the job (a retried flow run reuses it), if any."""
    return session.exec(
        select(JobRun.run_id)
        .where(JobRun.job_id == job_id, JobRun.flow_run_id == flow_run_id)
        .order_by(col(JobRun.created_at).desc())
    ).first()


def mark_running(
    session: Session, *, job_id: int, run_id: str, experiment_id: str, container_name: str
) -> bool:
    return transition(
        session,
        TrainJob,
        job_id,
        from_statuses=(JobStatus.STARTING,),
        to_status=JobStatus.RUNNING,
        values={
            "mlflow_run_id": run_id,
            "mlflow_experiment_id": experiment_id,
            "container_name": container_name,
            "watched_at": utcnow(),
        },
    )


def restore_status(session: Session, *, job_id: int, previous: str, error: str) -> bool:
    """Undo a claim after a failed launch: the job returns to where it was, with the reason."""
    return transition(
        session,
        TrainJob,
        job_id,
        from_statuses=(JobStatus.STARTING,),
        to_status=previous,
        values={"error": error[:8000], **RELEASED},
    )


def mark_finished(
    session: Session, *, job_id: int, status: JobStatus, error: str | None = None, log_tail: str | None = None
) -> bool:
    if status not in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED):
        raise ValueError(f"{status} is not a final status")
    return transition(
        session,
        TrainJob,
        job_id,
        from_statuses=ACTIVE_STATUSES,
        to_status=status,
        values={
            "error": error[:8000] if error else None,
            "log_tail": log_tail[-20000:] if log_tail else None,
            "finished_at": utcnow(),
            **RELEASED,
        },
    )


def touch_watch(session: Session, *, job_id: int) -> None:
    """The watchdog's heartbeat: reconcile leaves a job alone while this stays recent."""
    transition(
        session,
        TrainJob,
        job_id,
        from_statuses=(JobStatus.RUNNING,),
        to_status=JobStatus.RUNNING,
        values={"watched_at": utcnow()},
    )


def unwatched_jobs(session: Session, *, stale_before: datetime) -> list[int]:
    """Running jobs whose watchdog has not reported since ``stale_before`` (e.g. after a restart)."""
    stmt = select(TrainJob.id).where(
        TrainJob.status == JobStatus.RUNNING,
        or_(col(TrainJob.watched_at).is_(None), col(TrainJob.watched_at) < stale_before),
    )
    return [int(i) for i in session.exec(stmt).all()]


def active_custom_starts(session: Session) -> list[tuple[int, str | None]]:
    """(job id, flow run id) of every custom job a start holds now (STARTING or RUNNING): the starts whose MLflow
    accounts may be in use (the reconciler deletes every other job account)."""
    stmt = select(TrainJob.id, TrainJob.flow_run_id).where(
        TrainJob.kind == JobKind.CUSTOM, col(TrainJob.status).in_(ACTIVE_STATUSES)
    )
    return [(int(i), f) for i, f in session.exec(stmt).all()]


def claim_watch(session: Session, *, job_id: int, stale_before: datetime) -> bool:
    """Take over the watch of an unwatched job; of concurrent reconcilers exactly one wins it."""
    return transition(
        session,
        TrainJob,
        job_id,
        from_statuses=(JobStatus.RUNNING,),
        to_status=JobStatus.RUNNING,
        values={"watched_at": utcnow()},
        where=(or_(col(TrainJob.watched_at).is_(None), col(TrainJob.watched_at) < stale_before),),
    )


def job_context(session: Session, job: TrainJob) -> dict[str, Any]:
    algo = session.get(AlgorithmConfig, job.algorithm_id) if job.algorithm_id else None
    release = session.get(DatasetRelease, job.release_id)
    dataset = session.get(Dataset, release.dataset_id) if release else None
    return {
        "algorithm": algo.name if algo else None,
        "release": release.version if release else None,
        "dataset": dataset.name if dataset else None,
    }
