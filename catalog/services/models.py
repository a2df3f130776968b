"""Models: create, read, list, configure the promotion gate; the versions their jobs' runs registered; the default
model a training job targets; how a serving's version reference resolves.

A version belongs to a model only when one of the catalog's recorded runs (``job_run``) of a job targeting the
model registered it (``record_versions``, called with what MLflow reported for those run ids) — never because an
MLflow tag or name says so. Aliases and promotions: ``catalog.services.model_promotion``; lineage:
``catalog.services.model_lineage``.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from catalog.errors import ConflictError, NotFoundError, ValidationError
from catalog.model_gate import ALIASES, LATEST, gate_metric, parse_version_ref
from catalog.models import Model, ModelVersion, Serving, TrainJob
from catalog.models.base import utcnow
from catalog.scenarios import parse_scenario
from catalog.scoping import Actor, get_scoped, requires, scoped, team_filter
from catalog.services.audit import audited
from catalog.services.common import check_name, flush_unique, page
from catalog.services.releases import require_usable_release
from infra.settings import get_settings

_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def mlflow_name_for(model: Model) -> str:
    """The registered model's name in MLflow: unique across teams by the model's id, readable by its name."""
    slug = _SLUG.sub("-", model.name).strip("-")[:150] or "model"
    return f"{get_settings().mlflow.experiment_prefix}-{model.scenario}-model{model.id}-{slug}"


def _insert(
    session: Session, *, actor: Actor, team_id: int, scenario: str, name: str, description: str
) -> Model:
    model = Model(
        team_id=team_id,
        scenario=scenario,
        name=name,
        description=description,
        mlflow_name=f"pending-{uuid.uuid4().hex}",  # replaced below, once the id is known
        created_by=actor.user_id,
    )
    session.add(model)
    flush_unique(session, f"a model named {name!r} already exists in this team")
    model.mlflow_name = mlflow_name_for(model)
    session.add(model)
    return model


@requires("jobs:write")
def create_model(
    session: Session, *, actor: Actor, team_id: int, name: str, scenario: str, description: str = ""
) -> Model:
    """A model several training jobs may feed (``create_job(model=...)``)."""
    with audited(session, actor=actor, action="model.create", resource_type="model", team_id=team_id) as info:
        actor.require_team(team_id)
        scenario = parse_scenario(scenario).value
        name = check_name(name, what="model name")
        if len(description) > 4000:
            raise ValidationError("a model's description is at most 4,000 characters")
        model = _insert(
            session, actor=actor, team_id=team_id, scenario=scenario, name=name, description=description
        )
        info["resource_id"] = model.id
    return model


@requires("jobs:write")
def target_model(
    session: Session, *, actor: Actor, team_id: int, scenario: str, job_name: str, model: str | int | None
) -> Model:
    """The model a job created in ``team_id`` registers into: ``model`` (an id or a name of the team's models, of
    the job's scenario), else the team's model named after the job — made now if there is none (today's
    behaviour: each job its own line of versions). Called inside the job's creation (its permission applies)."""
    actor.require_team(team_id)
    if model is None or model == "":
        existing = session.exec(select(Model).where(Model.team_id == team_id, Model.name == job_name)).first()
        if existing is None:
            return _insert(
                session, actor=actor, team_id=team_id, scenario=scenario, name=job_name, description=""
            )
        found = existing
    elif isinstance(model, int) or str(model).isdigit():
        found = get_scoped(session, Model, int(model), actor, kind="model")
        if found.team_id != team_id:
            raise NotFoundError("model", model)
    else:
        row = session.exec(select(Model).where(Model.team_id == team_id, Model.name == str(model))).first()
        if row is None:
            raise NotFoundError("model", model)
        found = get_scoped(session, Model, row.id, actor, kind="model")
    if found.scenario != scenario:
        raise ValidationError(f"model {found.name!r} is a {found.scenario} model, the job is {scenario}")
    return found


@requires("models:read")
def get_model(session: Session, *, actor: Actor, model_id: int) -> Model:
    return get_scoped(session, Model, model_id, actor, kind="model")


@requires("models:read")
def find_model(session: Session, *, actor: Actor, name: str, team_id: int | None = None) -> Model:
    """A model by name: in ``team_id``, else in the teams the actor may read models of (ConflictError when the
    name is taken in several: give the team)."""
    stmt = scoped(select(Model), Model, actor).where(Model.name == name)
    teams = team_filter(actor, team_id)  # a team the actor cannot see reads like a missing one
    if teams is not None:
        stmt = stmt.where(col(Model.team_id).in_(teams))
    rows = session.exec(stmt.limit(2)).all()
    if not rows:
        raise NotFoundError("model", name)
    if len(rows) > 1:
        raise ConflictError(f"several of your teams have a model named {name!r}: say which team")
    return rows[0]


@requires("models:read")
def list_models(
    session: Session,
    *,
    actor: Actor,
    scenario: str | None = None,
    search: str | None = None,
    team_id: int | None = None,
    include_children: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> tuple[int, list[Model]]:
    stmt = scoped(select(Model), Model, actor)
    if scenario:
        stmt = stmt.where(Model.scenario == parse_scenario(scenario).value)
    teams = team_filter(actor, team_id, include_children)
    if teams is not None:
        stmt = stmt.where(col(Model.team_id).in_(teams))
    if search:
        stmt = stmt.where(col(Model.name).icontains(search))
    return page(session, stmt, offset=offset, limit=limit, order_by=col(Model.id).desc())


@requires("models:manage")
def configure_gate(
    session: Session,
    *,
    actor: Actor,
    model_id: int,
    metric: str | None = None,
    threshold: float | None = None,
    tolerance: float | None = None,
    evaluation_release_id: int | None = None,
    description: str | None = None,
    clear: Iterable[str] = (),
) -> Model:
    """Set the gate's metric (one of the scenario's, ``catalog.model_gate``), threshold, tolerance (≥ 0, how much
    worse than the champion a candidate may be) and evaluation release (a published release of the model's team
    and scenario); ``clear`` names fields to unset (``metric``, ``threshold``, ``evaluation_release_id``)."""
    model = get_model(session, actor=actor, model_id=model_id)
    with audited(
        session, actor=actor, action="model.configure", resource_type="model", team_id=model.team_id
    ) as info:
        info["resource_id"] = model.id
        unknown = set(clear) - {"metric", "threshold", "evaluation_release_id"}
        if unknown:
            raise ValidationError(f"cannot clear {', '.join(sorted(unknown))}")
        if metric is not None:
            model.gate_metric = gate_metric(model.scenario, metric).name
        if threshold is not None:
            model.gate_threshold = _finite(threshold, "threshold")
        if tolerance is not None:
            value = _finite(tolerance, "tolerance")
            if value < 0:
                raise ValidationError("the tolerance must not be negative")
            model.gate_tolerance = value
        if evaluation_release_id is not None:
            require_usable_release(
                session,
                actor=actor,
                release_id=evaluation_release_id,
                team_id=model.team_id,
                scenario=model.scenario,
            )
            model.evaluation_release_id = evaluation_release_id
        if description is not None:
            if len(description) > 4000:
                raise ValidationError("a model's description is at most 4,000 characters")
            model.description = description
        for name in clear:
            setattr(model, {"metric": "gate_metric", "threshold": "gate_threshold"}.get(name, name), None)
        model.updated_at = utcnow()
        session.add(model)
        info["detail"] = gate_of(model)
    return model


def _finite(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"the {what} must be a finite number")
    return float(value)


def gate_of(model: Model) -> dict[str, Any]:
    return {
        "metric": model.gate_metric,
        "threshold": model.gate_threshold,
        "tolerance": model.gate_tolerance,
        "evaluation_release_id": model.evaluation_release_id,
    }


@requires("models:read")
def list_versions(
    session: Session, *, actor: Actor, model_id: int, offset: int = 0, limit: int = 100
) -> tuple[int, list[ModelVersion]]:
    """The model's versions, newest first."""
    model = get_model(session, actor=actor, model_id=model_id)
    stmt = select(ModelVersion).where(ModelVersion.model_id == model.id)
    return page(session, stmt, offset=offset, limit=limit, order_by=col(ModelVersion.version).desc())


@requires("models:read")
def get_version(session: Session, *, actor: Actor, model_id: int, version: int) -> ModelVersion:
    model = get_model(session, actor=actor, model_id=model_id)
    return version_row(session, model=model, version=version)


def version_row(session: Session, *, model: Model, version: int) -> ModelVersion:
    row = session.exec(
        select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.version == int(version))
    ).first()
    if row is None:
        raise NotFoundError(f"version of model {model.name!r}", version)
    return row


@dataclass(frozen=True, slots=True)
class RegisteredVersion:
    """What MLflow reported for a version registered by one of a job's recorded runs."""

    version: int
    run_id: str
    run_status: str
    metrics: dict[str, float]
    params: dict[str, Any]


def record_versions(
    session: Session, *, job_id: int, versions: Sequence[RegisteredVersion]
) -> list[ModelVersion]:
    """Record versions of the job's model registered by the job's recorded runs (others are ignored: a run id
    the catalog did not record for this job proves nothing). Idempotent: a known version is updated."""
    job = session.get(TrainJob, job_id)
    if job is None or job.model_id is None:
        return []
    from catalog.models import JobRun

    runs = set(session.exec(select(JobRun.run_id).where(JobRun.job_id == job_id)).all())
    out: list[ModelVersion] = []
    for found in versions:
        if found.run_id not in runs:
            continue
        row = session.exec(
            select(ModelVersion).where(
                ModelVersion.model_id == job.model_id, ModelVersion.version == found.version
            )
        ).first()
        if row is None:
            row = ModelVersion(
                model_id=job.model_id,
                version=found.version,
                run_id=found.run_id,
                job_id=job_id,
                release_id=job.release_id,
            )
        elif row.run_id != found.run_id:
            continue  # the number is another run's already: the first record stands
        row.run_status = found.run_status[:20]
        row.metrics = {k: float(v) for k, v in found.metrics.items()}
        row.params = dict(found.params)
        session.add(row)
        out.append(row)
    session.flush()
    return out


def resolve_ref(session: Session, *, model: Model, ref: str) -> ModelVersion:
    """The version a reference names: 'latest' (the newest version of a finished run), a number, or an alias."""
    ref = parse_version_ref(ref)
    if ref == LATEST:
        row = session.exec(
            select(ModelVersion)
            .where(ModelVersion.model_id == model.id, ModelVersion.run_status == "FINISHED")
            .order_by(col(ModelVersion.version).desc())
        ).first()
        if row is None:
            raise ValidationError(f"model {model.name!r} has no version from a finished run yet")
        return row
    if ref in ALIASES:
        number = getattr(model, f"{ref}_version")
        if number is None:
            raise ValidationError(f"model {model.name!r} has no {ref} yet")
        return version_row(session, model=model, version=number)
    row = version_row(session, model=model, version=int(ref))
    if row.run_status != "FINISHED":
        raise ValidationError(
            f"version {row.version} of {model.name!r} comes from a run that ended {row.run_status}"
        )
    return row


def servings_of(session: Session, *, model_id: int) -> list[Serving]:
    """Every serving of the model (the reconcilers' view: no actor)."""
    return list(session.exec(select(Serving).where(Serving.model_id == model_id).order_by(col(Serving.id))))


def models_missing_versions(session: Session) -> list[int]:
    """Jobs whose versions the catalog may lack (``tasks.models.backfill_versions`` records them): a job with
    recorded runs and no version row at all (every job the migration made a model for, until its versions are
    read), and a completed job whose last run has no version row (the recording at its end failed). A job
    starting or running is left out: its watchdog records its versions when it ends. A run that never registered
    a version has no row to show for it, so only whole jobs without any are read again, not each failed run."""
    from sqlalchemy import and_, exists, or_

    from catalog.models import ACTIVE_STATUSES, JobRun, JobStatus

    has_runs = exists().where(col(JobRun.job_id) == col(TrainJob.id))
    has_versions = exists().where(col(ModelVersion.job_id) == col(TrainJob.id))
    last_recorded = exists().where(
        col(ModelVersion.model_id) == col(TrainJob.model_id),
        col(ModelVersion.run_id) == col(TrainJob.mlflow_run_id),
    )
    stmt = (
        select(TrainJob.id)
        .where(
            col(TrainJob.model_id).is_not(None),
            col(TrainJob.status).not_in(ACTIVE_STATUSES),
            has_runs,
            or_(~has_versions, and_(col(TrainJob.status) == JobStatus.COMPLETED, ~last_recorded)),
        )
        .order_by(col(TrainJob.id))
    )
    return [int(i) for i in session.exec(stmt).all()]
