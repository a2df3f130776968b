"""Algorithm catalog services: list and look up algorithms, enable/disable them, edit their forms.

The catalog is global (not team-owned): everyone may read it, only administrators change it. Disabling an
algorithm is refused while a training job that uses it is starting or running.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, update
from sqlmodel import Session, col, select

from catalog.errors import ConflictError, NotFoundError, ValidationError
from catalog.forms import validate_form_config, validate_search_space
from catalog.models import ACTIVE_STATUSES, AlgorithmConfig, TrainJob
from catalog.models.base import utcnow
from catalog.presets import PresetReport, import_presets
from catalog.scenarios import parse_scenario
from catalog.scoping import Actor, requires, scoped
from catalog.services.audit import record

__all__ = [
    "PresetReport",
    "get_algorithm",
    "get_algorithm_by_id",
    "import_presets",
    "list_algorithms",
    "running_jobs_of",
    "set_enabled",
    "update_form_config",
]


def _scenario(value: str) -> str:
    try:
        return parse_scenario(value).value
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def _audit(session: Session, actor: Actor, action: str, algorithm: AlgorithmConfig, **detail: Any) -> None:
    # Only successes: a refusal raises and the caller's transaction (with any record) is rolled back.
    record(
        session,
        actor=actor,
        action=action,
        resource_type="algorithm",
        resource_id=algorithm.id,
        team_id=actor.current_team_id,
        detail={"scenario": algorithm.scenario, "name": algorithm.name, **detail},
    )


def list_algorithms(
    session: Session, *, scenario: str | None = None, enabled_only: bool = False
) -> list[AlgorithmConfig]:
    """Algorithms ordered by scenario then name, optionally of one scenario and/or enabled only."""
    stmt = select(AlgorithmConfig)
    if scenario is not None:
        stmt = stmt.where(AlgorithmConfig.scenario == _scenario(scenario))
    if enabled_only:
        stmt = stmt.where(col(AlgorithmConfig.enabled).is_(True))
    return list(session.exec(stmt.order_by(AlgorithmConfig.scenario, AlgorithmConfig.name)).all())


def get_algorithm(session: Session, *, scenario: str, name: str) -> AlgorithmConfig:
    row = session.exec(
        select(AlgorithmConfig).where(
            AlgorithmConfig.scenario == _scenario(scenario), AlgorithmConfig.name == name
        )
    ).first()
    if row is None:
        raise NotFoundError("algorithm", f"{scenario}/{name}")
    return row


def get_algorithm_by_id(session: Session, *, algorithm_id: int) -> AlgorithmConfig:
    row = session.get(AlgorithmConfig, algorithm_id)
    if row is None:
        raise NotFoundError("algorithm", algorithm_id)
    return row


@requires("jobs:read")
def running_jobs_of(session: Session, *, actor: Actor, algorithm_id: int) -> list[TrainJob]:
    """Training jobs of this algorithm that are starting or running, of the teams the actor sees (every team
    for an administrator, who is the one that may disable it)."""
    stmt = scoped(select(TrainJob), TrainJob, actor).where(
        TrainJob.algorithm_id == algorithm_id, TrainJob.status.in_([s.value for s in ACTIVE_STATUSES])
    )
    return list(session.exec(stmt.order_by(TrainJob.id)).all())


@requires("admin:*")
def set_enabled(
    session: Session, *, actor: Actor, scenario: str, name: str, enabled: bool
) -> AlgorithmConfig:
    """Enable or disable an algorithm (administrators only).

    Disabling is one conditional UPDATE guarded by "no job of it is starting or running", so a job claimed
    at the same moment cannot slip past the check.
    """
    actor.require_superuser("enable or disable algorithms")
    algorithm = get_algorithm(session, scenario=scenario, name=name)
    if enabled:
        session.exec(
            update(AlgorithmConfig)
            .where(AlgorithmConfig.id == algorithm.id)  # type: ignore[call-overload]
            .values(enabled=True, updated_at=utcnow())
        )
    else:
        active = exists().where(
            and_(
                TrainJob.algorithm_id == algorithm.id, TrainJob.status.in_([s.value for s in ACTIVE_STATUSES])
            )
        )
        result = session.exec(  # type: ignore[call-overload]
            update(AlgorithmConfig)
            .where(AlgorithmConfig.id == algorithm.id, ~active)
            .values(enabled=False, updated_at=utcnow())
        )
        if result.rowcount == 0:
            jobs = running_jobs_of(session, actor=actor, algorithm_id=algorithm.id)  # type: ignore[arg-type]
            named = (
                ", ".join(f"'{job.name}' (#{job.id}, {job.status})" for job in jobs) or "a job just started"
            )
            raise ConflictError(
                f"cannot disable {algorithm.name} ({algorithm.scenario}): training jobs using it are still "
                f"running: {named}. Stop them first."
            )
    session.refresh(algorithm)
    _audit(session, actor, "algorithm.enable" if enabled else "algorithm.disable", algorithm)
    session.flush()
    return algorithm


@requires("admin:*")
def update_form_config(
    session: Session,
    *,
    actor: Actor,
    algorithm_id: int,
    form_config: dict[str, Any],
    search_space: dict[str, Any] | None,
) -> AlgorithmConfig:
    """Replace an algorithm's form and search space (administrators only), after validating both together."""
    actor.require_superuser("edit algorithm forms")
    algorithm = get_algorithm_by_id(session, algorithm_id=algorithm_id)
    form = validate_form_config(form_config)
    space = validate_search_space(search_space or {}, form)
    # New objects rather than in-place edits: the JSON columns only notice reassignment.
    algorithm.form_config = form
    algorithm.search_space = space
    algorithm.updated_at = utcnow()
    session.add(algorithm)
    _audit(session, actor, "algorithm.update_form", algorithm, fields=[f["name"] for f in form["fields"]])
    session.flush()
    return algorithm
