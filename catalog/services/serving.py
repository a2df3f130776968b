"""Servings: records of inference containers. Desired state is what users asked for; observed state is what
the runtime last reported, written back by every read and by the scheduled sync.

A port asked for (on create or update) must lie in ``MLOPS_RUNTIME_SERVING_PORT_RANGE``, must not be held by
any other serving record of any team (its requested port, or the port it was last seen running on, stopped
or not: it gets that port back on start), and must be bindable on the serving host now. The record check
reads across teams on purpose and only says "port N is taken", never whose.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, or_, update
from sqlmodel import Session, col, select

from catalog.errors import ConflictError, NotFoundError, ValidationError, quote
from catalog.model_gate import parse_version_ref
from catalog.models import (
    DesiredState,
    JobStatus,
    Model,
    PredictionLogCursor,
    Rollout,
    RolloutDecision,
    Serving,
    TrainJob,
)
from catalog.models.base import utcnow
from catalog.scenarios import parse_scenario
from catalog.scoping import Actor, get_scoped, requires, scoped, team_filter
from catalog.services import quotas
from catalog.services.audit import audited
from catalog.services.common import check_name, page
from catalog.services.models import resolve_ref
from infra.settings import get_settings

_VERSION_OK = "latest"
LIFECYCLE_ACTIONS = ("start", "stop", "restart", "remove", "delete")


@dataclass(frozen=True, slots=True)
class Observation:
    state: str
    port: int | None = None
    detail: str = ""
    stale: bool = False


def container_name_for(serving_id: int) -> str:
    return f"serve-{serving_id}"


def inference_token(serving: Serving) -> str:
    """The bearer token the serving's inference server requires on /predict and /metrics (given to it at
    launch as MLOPS_SERVING_TOKEN). Derived from the server secret and the serving's own salt, so it is never
    stored, differs per serving, and is unknown to anyone without the server secret; a caller who may manage
    the serving is given it (``token_for``), the platform's own launch and predict proxy use it."""
    message = f"mlops-serving-token\0{serving.id}\0{serving.auth_salt}".encode()
    return hmac.new(get_settings().platform.secret_key.encode(), message, hashlib.sha256).hexdigest()


def control_token(serving: Serving) -> str:
    """The bearer token of the serving's control endpoint (``POST /admin/model``: load another model version and
    swap it in), given to its container only (MLOPS_SERVING_CONTROL_TOKEN) and used only by the platform's
    roll-forward (``tasks.serving_rollout``). Never shown to anyone: whoever held it could point the server,
    which runs with the platform's MLflow credentials, at another team's model. Derived like
    ``inference_token`` under another label, so one token tells nothing of the other."""
    message = f"mlops-serving-control\0{serving.id}\0{serving.auth_salt}".encode()
    return hmac.new(get_settings().platform.secret_key.encode(), message, hashlib.sha256).hexdigest()


def _check_version(model_version: str) -> str:
    return parse_version_ref(model_version or _VERSION_OK)


def reserved_ports(session: Session, *, except_serving: int | None = None) -> set[int]:
    """Ports held by serving records of every team: requested ones, and those last seen running."""
    stmt = select(Serving.port, Serving.observed_port).where(
        or_(col(Serving.port).is_not(None), col(Serving.observed_port).is_not(None))
    )
    if except_serving is not None:
        stmt = stmt.where(Serving.id != except_serving)
    return {p for row in session.exec(stmt).all() for p in row if p is not None}


def _bindable(host: str, port: int) -> bool:
    """Whether a server could bind ``host:port`` now (SO_REUSEADDR, as uvicorn; as ``infra.net.port_is_free``,
    which the catalog may not import)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _check_port(session: Session, port: int | None, *, serving: Serving | None = None) -> int | None:
    """``port`` if a serving may ask for it (see the module docstring), else ValidationError/ConflictError."""
    if port is None:
        return None
    port = int(port)
    runtime = get_settings().runtime
    lo, hi = runtime.port_range
    if not lo <= port <= hi:
        raise ValidationError(
            f"port {port} is outside the serving port range {lo}-{hi} (MLOPS_RUNTIME_SERVING_PORT_RANGE)"
        )
    if port in reserved_ports(session, except_serving=serving.id if serving else None):
        raise ConflictError(f"port {port} is taken")
    # The serving's own running server holds the port it runs on: that one is not "in use" against it.
    own = serving is not None and port == serving.observed_port and serving.observed_state == "running"
    if not own and not _bindable(runtime.serving_host, port):
        raise ConflictError(f"port {port} is in use on the serving host")
    return port


def _require_job(session: Session, *, actor: Actor, job_id: int, team_id: int) -> TrainJob:
    job = get_scoped(session, TrainJob, job_id, actor, kind="training job")
    if job.team_id != team_id:
        raise NotFoundError("training job", job_id)
    if not job.model_name or job.model_id is None:
        raise ValidationError(f"training job {job.name!r} has no model")
    if job.status != JobStatus.COMPLETED and job.mlflow_run_id is None:
        raise ValidationError(f"training job {job.name!r} has not produced a model yet (status {job.status})")
    return job


def _require_model(session: Session, *, actor: Actor, model_id: int, team_id: int, ref: str) -> Model:
    """The team's model, if ``ref`` names one of its versions now (an alias must be set, 'latest' must exist)."""
    model = get_scoped(session, Model, model_id, actor, kind="model")
    if model.team_id != team_id:
        raise NotFoundError("model", model_id)
    resolve_ref(session, model=model, ref=ref)
    return model


def _target(
    session: Session,
    *,
    actor: Actor,
    team_id: int,
    train_job_id: int | None,
    model_id: int | None,
    ref: str,
) -> tuple[Model, int | None]:
    """(model, job) a serving is made of: a model, or a training job's model (``ref`` then resolved lazily, as
    before models existed: 'latest' of a job that is still running is found at start)."""
    if (train_job_id is None) == (model_id is None):
        raise ValidationError("a serving serves either a model or a training job's model: give one of them")
    if model_id is not None:
        return _require_model(session, actor=actor, model_id=model_id, team_id=team_id, ref=ref), None
    job = _require_job(session, actor=actor, job_id=train_job_id, team_id=team_id)  # type: ignore[arg-type]
    model = session.get(Model, job.model_id)
    assert model is not None
    return model, job.id


@requires("servings:manage")
def create_serving(
    session: Session,
    *,
    actor: Actor,
    team_id: int,
    name: str,
    train_job_id: int | None = None,
    model_id: int | None = None,
    model_version: str = _VERSION_OK,
    port: int | None = None,
    start: bool = True,
) -> Serving:
    """A serving of one of the team's models (``model_id``) or of a training job's model (``train_job_id``);
    ``model_version`` is 'latest', a version, or an alias the serving follows (it rolls forward when the alias
    moves: ``flows.serving``). ``start``: meant to run (its desired state; the caller launches
    ``serving-start``), which claims its place in the team's quotas now (QuotaExceededError: nothing is
    stored); otherwise it is created stopped."""
    with audited(
        session, actor=actor, action="serving.create", resource_type="serving", team_id=team_id
    ) as info:
        actor.require_team(team_id)
        name = check_name(name, what="serving name")
        ref = _check_version(model_version)
        model, job_id = _target(
            session, actor=actor, team_id=team_id, train_job_id=train_job_id, model_id=model_id, ref=ref
        )
        if session.exec(select(Serving.id).where(Serving.team_id == team_id, Serving.name == name)).first():
            raise ConflictError(f"a serving named {name!r} already exists in this team")
        serving = Serving(
            team_id=team_id,
            scenario=model.scenario,
            name=name,
            model_id=model.id,
            train_job_id=job_id,
            model_version=ref,
            port=_check_port(session, port),
            desired_state=DesiredState.RUNNING if start else DesiredState.STOPPED,
            created_by=actor.user_id,
        )
        held = quotas.claim(session, row=serving) if start else None
        if held is not None:
            serving.claimed_cpu, serving.claimed_memory_mb = held.cpus, held.memory_mb
        session.add(serving)
        session.flush()
        serving.container_name = container_name_for(serving.id)  # type: ignore[arg-type]
        info["resource_id"] = serving.id
    return serving


@requires("servings:read")
def get_serving(session: Session, *, actor: Actor, serving_id: int) -> Serving:
    return get_scoped(session, Serving, serving_id, actor, kind="serving")


@requires("servings:read")
def list_servings(
    session: Session,
    *,
    actor: Actor,
    scenario: str | None = None,
    search: str | None = None,
    observed_state: str | None = None,
    failed: bool = False,
    team_id: int | None = None,
    include_children: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> tuple[int, list[Serving]]:
    """One page of servings, newest first; ``observed_state`` keeps those last seen in that state, ``failed``
    those carrying a lifecycle error, ``team_id`` one team's (with ``include_children``, its subtree's)."""
    stmt = scoped(select(Serving), Serving, actor)
    if scenario:
        stmt = stmt.where(Serving.scenario == parse_scenario(scenario).value)
    teams = team_filter(actor, team_id, include_children)
    if teams is not None:
        stmt = stmt.where(col(Serving.team_id).in_(teams))
    if search:
        stmt = stmt.where(col(Serving.name).icontains(search))
    if observed_state:
        stmt = stmt.where(Serving.observed_state == observed_state)
    if failed:
        stmt = stmt.where(col(Serving.error).is_not(None))
    return page(session, stmt, offset=offset, limit=limit, order_by=col(Serving.id).desc())


@requires("servings:manage")
def update_serving(
    session: Session,
    *,
    actor: Actor,
    serving_id: int,
    model_version: str | None = None,
    train_job_id: int | None = None,
    model_id: int | None = None,
    port: int | None = None,
    clear_port: bool = False,
) -> tuple[Serving, bool]:
    """Returns (serving, whether a running container must restart for the change to apply). A new model or
    training job (its model) must be of the serving's scenario."""
    serving = get_serving(session, actor=actor, serving_id=serving_id)
    with audited(
        session, actor=actor, action="serving.update", resource_type="serving", team_id=serving.team_id
    ) as info:
        info["resource_id"] = serving.id
        changed = False
        if model_version is not None and _check_version(model_version) != serving.model_version:
            serving.model_version, changed = _check_version(model_version), True
        if (train_job_id is not None and train_job_id != serving.train_job_id) or (
            model_id is not None and model_id != serving.model_id
        ):
            model, job_id = _target(
                session,
                actor=actor,
                team_id=serving.team_id,
                train_job_id=train_job_id,
                model_id=model_id,
                ref=serving.model_version,
            )
            if model.scenario != serving.scenario:
                raise ValidationError(
                    f"model {model.name!r} is {model.scenario}, the serving is {serving.scenario}"
                )
            serving.model_id, serving.train_job_id, changed = model.id, job_id, True
        new_port = None if clear_port else (port if port is not None else serving.port)
        if new_port != serving.port:
            serving.port, changed = _check_port(session, new_port, serving=serving), True
        serving.updated_at = utcnow()
        session.add(serving)
        info["detail"] = {"changed": changed}
    return serving, changed and serving.desired_state == DesiredState.RUNNING


@requires("servings:manage")
def set_desired(session: Session, *, actor: Actor, serving_id: int, desired: DesiredState) -> Serving:
    """Running claims the serving's place in its team's quotas (QuotaExceededError when it would exceed one;
    atomic, see ``catalog.services.quotas``); a serving meant to run already holds it. Stopped releases it."""
    serving = get_serving(session, actor=actor, serving_id=serving_id)
    with audited(
        session,
        actor=actor,
        action=f"serving.{'start' if desired == DesiredState.RUNNING else 'stop'}",
        resource_type="serving",
        team_id=serving.team_id,
    ) as info:
        info["resource_id"] = serving.id
        values: dict[str, object] = {
            "desired_state": str(desired),
            "claimed_cpu": None,
            "claimed_memory_mb": None,
        }
        if desired == DesiredState.RUNNING:
            # None: meant to run already (maybe since a claim that held the team chain's lock first).
            held = quotas.claim(session, row=serving)
            if held is not None:
                values.update(claimed_cpu=held.cpus, claimed_memory_mb=held.memory_mb)
        # Only from the other state: a serving meant to run keeps what it claimed.
        session.exec(  # type: ignore[call-overload]
            update(Serving)
            .where(col(Serving.id) == serving.id, Serving.desired_state != str(desired))
            .values({**values, "updated_at": utcnow()})
            .execution_options(synchronize_session=False)
        )
        session.refresh(serving)
    return serving


@requires("servings:manage")
def request_lifecycle(session: Session, *, actor: Actor, serving_id: int, action: str) -> Serving:
    """What every edge calls before it launches a serving's lifecycle flow (``servings:manage``): ``action`` is
    start, stop, restart, remove or delete; a start of a stopped serving is checked against the team's quotas
    now (QuotaExceededError naming the quota and its use). The flow's ``set_desired`` claims atomically."""
    if action not in LIFECYCLE_ACTIONS:
        raise ValidationError(
            f"unknown serving action {quote(action)}; actions: {', '.join(LIFECYCLE_ACTIONS)}"
        )
    serving = get_serving(session, actor=actor, serving_id=serving_id)
    if action == "start" and serving.desired_state != DesiredState.RUNNING:
        quotas.precheck(session, row=serving)
    return serving


@requires("servings:manage")
def token_for(session: Session, *, actor: Actor, serving_id: int) -> str:
    """The serving's inference token (``inference_token``), for those who may manage it."""
    return inference_token(get_serving(session, actor=actor, serving_id=serving_id))


@requires("servings:predict")
def predictable(session: Session, *, actor: Actor, serving_id: int) -> Serving:
    """The serving, if the actor may send it predictions through the platform (``servings:predict``)."""
    return get_serving(session, actor=actor, serving_id=serving_id)


@requires("servings:read")
def servings_for_sync(
    session: Session, *, actor: Actor, serving_ids: Sequence[int] | None = None
) -> list[Serving]:
    """The servings whose observed state a sync refreshes (all the actor sees, or the ids given)."""
    stmt = scoped(select(Serving), Serving, actor)
    if serving_ids is not None:
        stmt = stmt.where(col(Serving.id).in_(list(serving_ids)))
    return list(session.exec(stmt.order_by(col(Serving.id))).all())


def record_resolved_version(session: Session, *, serving_id: int, version: str) -> None:
    """The concrete model version the running container serves ('latest' resolved at start)."""
    serving = session.get(Serving, serving_id)
    if serving is not None:
        serving.resolved_version = version
        session.add(serving)


def record_error(session: Session, *, serving_id: int, error: str | None) -> None:
    """The last lifecycle failure (None clears it); shown next to the observed state."""
    serving = session.get(Serving, serving_id)
    if serving is not None:
        serving.error = error[:4000] if error else None
        session.add(serving)


def record_observed(session: Session, *, observations: Mapping[int, Observation]) -> None:
    """Write back what the runtime reported for many servings at once."""
    now = utcnow()
    for serving_id, obs in observations.items():
        serving = session.get(Serving, serving_id)
        if serving is None:
            continue
        serving.observed_stale = obs.stale
        serving.observed_detail = obs.detail[:4000]
        if not obs.stale:
            serving.observed_state = obs.state
            serving.observed_port = obs.port
            serving.observed_at = now
        session.add(serving)


@requires("servings:manage")
def delete_record(session: Session, *, actor: Actor, serving_id: int) -> None:
    """Delete the row. The caller must have removed the container first (never a zombie container)."""
    serving = get_serving(session, actor=actor, serving_id=serving_id)
    with audited(
        session, actor=actor, action="serving.delete", resource_type="serving", team_id=serving.team_id
    ) as info:
        info["resource_id"] = serving.id
        # Its roll-outs' account goes with it (they describe only this serving's traffic).
        rollouts = select(Rollout.id).where(Rollout.serving_id == serving.id)
        session.exec(delete(RolloutDecision).where(col(RolloutDecision.rollout_id).in_(rollouts)))  # type: ignore[call-overload]
        session.exec(delete(Rollout).where(col(Rollout.serving_id) == serving.id))  # type: ignore[call-overload]
        # The logs it left stay in the object store until their retention ends; where collection stood goes.
        session.exec(delete(PredictionLogCursor).where(col(PredictionLogCursor.serving_id) == serving.id))  # type: ignore[call-overload]
        session.delete(serving)
