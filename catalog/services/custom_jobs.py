"""Custom training jobs ("bring your own training code"): the job kind whose container runs the user's image and
command (``mlops_lite.schemas.custom_jobs.CustomSpec``: the rules, once) with the release zip at a known path and
the MLflow run the platform created for it, as an MLflow account of its own (docs/architecture.md, "Custom
training jobs").

Only creation is the custom kind's own. From then on a custom job is a training job like any other: the same
row, name uniqueness, config in S3, claim and status machine (``catalog.services.training``), the same ``train``
flow, watchdog (its rules for the custom kind: the command's exit code, then a model version registered by
the job's run) and audit records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pydantic
from sqlmodel import Session

from catalog.errors import NotFoundError, PermissionDeniedError, ValidationError, shorten
from catalog.models import Dataset, DatasetRelease, JobKind, TrainJob
from catalog.scoping import Actor, requires
from catalog.services.audit import audited
from catalog.services.common import check_name
from catalog.services.job_config import store_config
from catalog.services.models import target_model
from catalog.services.releases import get_release, require_usable_release
from catalog.services.training import _require_free_name
from infra.objectstore import ObjectStore
from infra.settings import get_settings
from mlops_lite.schemas.custom_jobs import CustomSpec, spec_problems

DISABLED = (
    "custom training jobs are turned off on this platform (MLOPS_TRAIN_CUSTOM_JOBS=false): they run their "
    "owners' code on the platform's runtime"
)
ON_PROCESS = (
    "custom training jobs are off on the process runtime, where their code would run as the platform's own OS "
    "user (MLOPS_TRAIN_CUSTOM_JOBS_ON_PROCESS=true allows them where every user is trusted that far); use the "
    "docker or kubernetes runtime"
)


def refusal(*, enabled: bool, on_process: bool, runtime: str) -> str | None:
    """Why custom jobs may not be created or started here (None: they may). Pure: settings in, answer out."""
    if not enabled:
        return DISABLED
    if runtime == "process" and not on_process:
        return ON_PROCESS
    return None


def current_refusal() -> str | None:
    settings = get_settings()
    return refusal(
        enabled=settings.training.custom_jobs,
        on_process=settings.training.custom_jobs_on_process,
        runtime=settings.runtime.name,
    )


def check_spec(
    *,
    image: str,
    command: Sequence[str],
    env: Mapping[str, str] | None = None,
    cpu_limit: float | None = None,
    memory_limit_mb: int | None = None,
) -> CustomSpec:
    """The spec, valid (``CustomSpec``'s rules), or a ``ValidationError`` naming each problem (never the input)."""
    try:
        return CustomSpec.model_validate(
            {
                "image": image,
                # A string is not an argv (list() would split it into characters): pydantic refuses it.
                "command": command if isinstance(command, str) else list(command),
                "env": dict(env or {}),
                "cpu_limit": cpu_limit,
                "memory_limit_mb": memory_limit_mb,
            }
        )
    except pydantic.ValidationError as exc:
        raise ValidationError(f"invalid custom job: {spec_problems(exc)}") from None


def _release_scenario(session: Session, *, actor: Actor, release_id: int, team_id: int) -> str:
    """The scenario of the release's dataset: a custom job's (its serving speaks that scenario's contract)."""
    try:
        release = get_release(session, actor=actor, release_id=release_id)
    except NotFoundError:
        raise NotFoundError("dataset release", release_id) from None
    dataset = session.get(Dataset, release.dataset_id)
    assert dataset is not None
    # Also refuses another team's release (reads as missing), an archived or unpublished one.
    require_usable_release(
        session, actor=actor, release_id=release_id, team_id=team_id, scenario=dataset.scenario
    )
    return dataset.scenario


@requires("jobs:write")
def create_custom_job(
    session: Session,
    *,
    actor: Actor,
    team_id: int,
    name: str,
    release_id: int,
    image: str,
    command: Sequence[str],
    env: Mapping[str, str] | None = None,
    cpu_limit: float | None = None,
    memory_limit_mb: int | None = None,
    description: str = "",
    model: str | int | None = None,
    auto_promote: bool = False,
    store: ObjectStore | None = None,
) -> tuple[TrainJob, str | None]:
    """Create a custom job and store its config (``model``, ``auto_promote``: as ``training.create_job``). Returns (job, previous config key to delete after commit)."""
    with audited(
        session, actor=actor, action="train_job.create", resource_type="train_job", team_id=team_id
    ) as info:
        actor.require_team(team_id)
        refused = current_refusal()
        if refused:
            raise PermissionDeniedError(refused)
        name = check_name(name, what="job name")
        spec = check_spec(
            image=image, command=command, env=env, cpu_limit=cpu_limit, memory_limit_mb=memory_limit_mb
        )
        if len(description) > 4000:
            raise ValidationError(f"description has {len(description)} characters; at most 4000")
        scenario = _release_scenario(session, actor=actor, release_id=release_id, team_id=team_id)
        _require_free_name(session, team_id=team_id, name=name)
        job = TrainJob(
            team_id=team_id,
            kind=JobKind.CUSTOM,
            scenario=scenario,
            name=name,
            description=description,
            release_id=release_id,
            params={},
            image=spec.image,
            command=spec.command,
            env=spec.env,
            cpu_limit=spec.cpu_limit,
            memory_limit_mb=spec.memory_limit_mb,
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
        # Values of env may be secrets and the command may be long: the audit log keeps what identifies the run.
        info["detail"] = {
            "kind": JobKind.CUSTOM.value,
            "release_id": release_id,
            "image": spec.image,
            "program": shorten(spec.command[0], 200),
            "env": sorted(spec.env),
        }
    return job, previous


def job_release(session: Session, *, job: TrainJob) -> DatasetRelease:
    """The release a job row (read by its caller through scoping, or claimed by its flow) trains on."""
    release = session.get(DatasetRelease, job.release_id)
    if release is None or not release.object_key or not release.sha256 or release.size_bytes is None:
        raise NotFoundError("dataset release", job.release_id)
    return release
