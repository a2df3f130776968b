"""Progressive roll-outs of a serving's canary: started by a person (``start_rollout``: the caller launches the
``serving-rollout`` flow), paused, resumed and aborted by a person (``control_rollout``), stepped, promoted and
rolled back by the flow (the system functions below). Every status change is a conditional update
(``catalog.services.common.transition``): a person's abort and the flow's promotion race on the database, and
exactly one wins.

The roll-out owns the serving's canary while it is active: starting one sets the canary version (weight 0
until the flow sets the first step); its end clears the canary (rolled back, aborted) or makes it the stable
version (promoted: the model's champion moves to it, and a serving pinned to a number is pinned to it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from catalog.errors import ConflictError, ValidationError
from catalog.models import (
    ACTIVE_ROLLOUTS,
    AliasCause,
    DesiredState,
    Model,
    Rollout,
    RolloutDecision,
    RolloutStatus,
    Serving,
)
from catalog.models.base import utcnow
from catalog.scoping import SYSTEM, Actor, get_scoped, requires, scoped
from catalog.services import audit
from catalog.services.audit import audited
from catalog.services.common import flush_unique, page, transition
from catalog.services.model_promotion import move_alias
from catalog.services.serving import get_serving
from catalog.services.traffic import _model_of, _version_of
from mlops_lite.schemas.rollouts import StartRollout

ACTIONS = {
    "pause": ((RolloutStatus.RUNNING,), RolloutStatus.PAUSED),
    "resume": ((RolloutStatus.PAUSED,), RolloutStatus.RUNNING),
    "abort": (ACTIVE_ROLLOUTS, RolloutStatus.ABORTED),
}


@requires("servings:manage")
def start_rollout(session: Session, *, actor: Actor, serving_id: int, request: StartRollout) -> Rollout:
    """Record a roll-out of ``request.canary`` on a running serving; the caller launches its flow."""
    serving = get_serving(session, actor=actor, serving_id=serving_id)
    with audited(
        session, actor=actor, action="serving.rollout", resource_type="serving", team_id=serving.team_id
    ) as info:
        info["resource_id"] = serving.id
        if serving.desired_state != DesiredState.RUNNING or serving.observed_state != "running":
            # The serving's state refuses it (as a prediction of a stopped serving is refused): a conflict.
            raise ConflictError(
                f"serving {serving.name!r} is {serving.observed_state} (asked: {serving.desired_state}): "
                "a roll-out needs it running — start it first"
            )
        if not (serving.resolved_version or "").isdigit():
            raise ValidationError(f"serving {serving.name!r} has not resolved the version it serves yet")
        model = _model_of(session, actor=actor, serving=serving, model_id=request.model_id)
        canary = _version_of(session, model=model, ref=request.canary, serving=serving, what="canary")
        rollout = Rollout(
            team_id=serving.team_id,
            serving_id=serving.id,  # type: ignore[arg-type]
            model_id=model.id,  # type: ignore[arg-type]
            stable_version=int(serving.resolved_version),  # type: ignore[arg-type]
            canary_version=canary,
            steps=list(request.steps),
            dwell_seconds=request.dwell_seconds,
            thresholds=request.thresholds.model_dump(),
            created_by=actor.user_id,
        )
        session.add(rollout)
        flush_unique(session, f"serving {serving.name!r} has a roll-out under way: pause, resume or abort it")
        serving.canary_version, serving.canary_weight = canary, 0
        if serving.shadow_version == canary:
            serving.shadow_version = None
        serving.updated_at = utcnow()
        session.add(serving)
        session.flush()
        info["detail"] = {"rollout_id": rollout.id, "canary": canary, "steps": rollout.steps}
    return rollout


@requires("servings:read")
def get_rollout(session: Session, *, actor: Actor, rollout_id: int) -> Rollout:
    return get_scoped(session, Rollout, rollout_id, actor, kind="roll-out")


@requires("servings:read")
def list_rollouts(
    session: Session, *, actor: Actor, serving_id: int, offset: int = 0, limit: int = 50
) -> tuple[int, list[Rollout]]:
    serving = get_serving(session, actor=actor, serving_id=serving_id)
    stmt = scoped(select(Rollout), Rollout, actor).where(Rollout.serving_id == serving.id)
    return page(session, stmt, offset=offset, limit=limit, order_by=col(Rollout.id).desc())


@requires("servings:read")
def decisions(session: Session, *, actor: Actor, rollout_id: int) -> list[RolloutDecision]:
    """The roll-out's account, oldest first."""
    rollout = get_rollout(session, actor=actor, rollout_id=rollout_id)
    return list(
        session.exec(
            select(RolloutDecision)
            .where(RolloutDecision.rollout_id == rollout.id)
            .order_by(col(RolloutDecision.id))
        )
    )


@requires("servings:manage")
def control_rollout(
    session: Session, *, actor: Actor, rollout_id: int, action: str, reason: str = ""
) -> Rollout:
    """Pause, resume or abort; an abort takes the canary off the serving at once (the caller applies it)."""
    rollout = get_rollout(session, actor=actor, rollout_id=rollout_id)
    with audited(
        session, actor=actor, action=f"rollout.{action}", resource_type="rollout", team_id=rollout.team_id
    ) as info:
        info["resource_id"] = rollout.id
        if action not in ACTIONS:
            raise ValidationError(f"unknown roll-out action {action!r}; actions: {', '.join(ACTIONS)}")
        sources, target = ACTIONS[action]
        said = reason.strip()[:500] or f"{action} by {actor.username}"
        values: dict[str, Any] = {}
        if target == RolloutStatus.ABORTED:
            values = {"reason": said, "finished_at": utcnow()}
        if not transition(
            session, Rollout, rollout.id, from_statuses=sources, to_status=target, values=values
        ):  # type: ignore[arg-type]
            session.refresh(rollout)
            raise ConflictError(f"roll-out {rollout.id} is {rollout.status}: it cannot {action}")
        if target == RolloutStatus.ABORTED:
            _canary_off(session, rollout)
        record(session, rollout=rollout, action=action, reason=said, actor_id=actor.user_id)
        session.refresh(rollout)
    return rollout


def record(
    session: Session,
    *,
    rollout: Rollout,
    action: str,
    reason: str,
    figures: dict[str, Any] | None = None,
    actor_id: int | None = None,
) -> RolloutDecision:
    row = RolloutDecision(
        rollout_id=rollout.id,  # type: ignore[arg-type]
        step=rollout.step,
        weight=rollout.weight,
        action=action,
        reason=reason[:4000],
        figures=figures or {},
        actor_id=actor_id,
    )
    session.add(row)
    session.flush()
    return row


def _canary_off(session: Session, rollout: Rollout) -> None:
    session.exec(  # type: ignore[call-overload]
        update(Serving)
        .where(col(Serving.id) == rollout.serving_id, col(Serving.canary_version) == rollout.canary_version)
        .values(canary_version=None, canary_weight=0, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


# The flow's side (the system acts; no actor's permissions apply).


def set_step(session: Session, *, rollout_id: int, step: int) -> bool:
    """Set the step's weight on the roll-out and its serving, if it is still running; returns whether it was."""
    rollout = session.get(Rollout, rollout_id)
    assert rollout is not None
    weight = rollout.steps[step]
    if not transition(
        session,
        Rollout,
        rollout_id,
        from_statuses=(RolloutStatus.RUNNING,),
        to_status=RolloutStatus.RUNNING,
        values={"step": step, "weight": weight},
    ):
        return False
    session.exec(  # type: ignore[call-overload]
        update(Serving)
        .where(col(Serving.id) == rollout.serving_id, col(Serving.canary_version) == rollout.canary_version)
        .values(canary_weight=weight, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.refresh(rollout)
    return True


def finish(session: Session, *, rollout_id: int, status: RolloutStatus, reason: str) -> Rollout | None:
    """End a running roll-out as promoted or rolled back; None if it was no longer running (paused or ended
    meanwhile: a person acted first)."""
    rollout = session.get(Rollout, rollout_id)
    assert rollout is not None
    if status not in (RolloutStatus.PROMOTED, RolloutStatus.ROLLED_BACK):
        raise ValueError(f"a roll-out's flow ends it promoted or rolled back, not {status}")
    if not transition(
        session,
        Rollout,
        rollout_id,
        from_statuses=(RolloutStatus.RUNNING,),
        to_status=status,
        values={"reason": reason[:4000], "finished_at": utcnow()},
    ):
        return None
    session.refresh(rollout)
    # The platform acted, not a person: the audit log names the system, with the window's reason.
    audit.record(
        session,
        actor=SYSTEM,
        action=f"rollout.{'promote' if status == RolloutStatus.PROMOTED else 'rollback'}",
        resource_type="rollout",
        resource_id=rollout.id,
        team_id=rollout.team_id,
        detail={
            "serving_id": rollout.serving_id,
            "canary_version": rollout.canary_version,
            "stable_version": rollout.stable_version,
            "weight": rollout.weight,
            "reason": reason[:500],
        },
    )
    if status == RolloutStatus.ROLLED_BACK:
        _canary_off(session, rollout)
        return rollout
    _promote(session, rollout)
    return rollout


def _promote(session: Session, rollout: Rollout) -> None:
    """The canary becomes the serving's stable version and the model's champion."""
    model = session.get(Model, rollout.model_id)
    serving = session.get(Serving, rollout.serving_id)
    assert model is not None and serving is not None
    if model.champion_version != rollout.canary_version:
        moved = move_alias(
            session,
            model=model,
            alias="champion",
            expected=model.champion_version,
            version=rollout.canary_version,
            cause=AliasCause.ROLLOUT,
            actor_id=None,
        )
        if not moved:
            raise ConflictError(f"the champion of {model.name!r} changed meanwhile; the roll-out tries again")
    if serving.model_version != "champion":
        serving.model_version = str(rollout.canary_version)
    serving.resolved_version = str(rollout.canary_version)
    serving.canary_version, serving.canary_weight = None, 0
    serving.updated_at = utcnow()
    session.add(serving)
    session.flush()


def active_rollouts(session: Session) -> list[Rollout]:
    """Every roll-out running or paused (the reconciler resumes those whose flow is gone)."""
    return list(
        session.exec(select(Rollout).where(col(Rollout.status).in_([str(s) for s in ACTIVE_ROLLOUTS])))
    )


def claim_flow_run(session: Session, *, rollout_id: int, expected: str | None, flow_run_id: str) -> bool:
    """Make ``flow_run_id`` the roll-out's flow run if it still is ``expected`` (None: none yet): of two runs
    started for one roll-out (a resume racing the first start), exactly one wins and goes on."""
    held = col(Rollout.flow_run_id).is_(None) if expected is None else col(Rollout.flow_run_id) == expected
    result = session.exec(  # type: ignore[call-overload]
        update(Rollout)
        .where(col(Rollout.id) == rollout_id, held)
        .values(flow_run_id=flow_run_id)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)
