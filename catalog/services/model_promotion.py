"""Aliases and promotions: asking the gate to promote a version, the gate's decision recorded (the champion moved
by a conditional update), rollback, aliases set by hand, and keeping MLflow's aliases in step.

Every alias move is one conditional ``UPDATE model ... WHERE <alias>_version IS <what the mover saw>`` plus an
``AliasEvent`` in the same transaction, and bumps ``alias_revision``: of two promotions decided at once exactly one
moves the champion, the other is recorded as rejected with the reason. MLflow's aliases follow afterwards
(``aliases_to_sync`` / ``mark_aliases_synced``, called by ``tasks.models``), so a failure there never leaves the
catalog half-changed; the reconciler retries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from catalog.errors import ConflictError, NotFoundError, ValidationError
from catalog.model_gate import ALIASES, CHAMPION, Decision, Gate, Move, rollback_target
from catalog.models import (
    OPEN_EVALUATIONS,
    AliasCause,
    AliasEvent,
    EvaluationStatus,
    Model,
    ModelEvaluation,
    User,
)
from catalog.models.base import utcnow
from catalog.scoping import Actor, get_scoped, requires, scoped
from catalog.services.audit import audited, record
from catalog.services.common import page, transition
from catalog.services.models import get_model, version_row


def _check_alias(alias: str) -> str:
    if alias not in ALIASES:
        raise ValidationError(f"unknown alias {alias!r}; aliases: {', '.join(ALIASES)}")
    return alias


def move_alias(
    session: Session,
    *,
    model: Model,
    alias: str,
    expected: int | None,
    version: int | None,
    cause: AliasCause,
    actor_id: int | None,
    evaluation_id: int | None = None,
) -> bool:
    """Point ``alias`` at ``version`` if it still points at ``expected``; records the move. Returns whether it won."""
    column = col(getattr(Model, f"{_check_alias(alias)}_version"))
    held = column.is_(None) if expected is None else column == expected
    result = session.exec(  # type: ignore[call-overload]
        update(Model)
        .where(col(Model.id) == model.id, held)
        .values(
            {
                f"{alias}_version": version,
                "alias_revision": Model.alias_revision + 1,
                "updated_at": utcnow(),
            }
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    session.add(
        AliasEvent(
            model_id=model.id,  # type: ignore[arg-type]
            alias=alias,
            version=version,
            previous_version=expected,
            cause=cause,
            evaluation_id=evaluation_id,
            actor_id=actor_id,
        )
    )
    session.flush()
    session.refresh(model)
    return True


@requires("models:promote")
def request_promotion(
    session: Session,
    *,
    actor: Actor,
    model_id: int,
    version: int,
    scenario: str | None = None,
    automatic: bool = False,
) -> ModelEvaluation:
    """Ask the gate to promote ``version``: checks it is the model's, from a finished run, not the champion
    already; fixes the model's evaluation release (the first candidate's training release, unless one is set) so
    every candidate and champion are compared on the same data. The caller launches ``promote-model`` with the
    returned evaluation's id."""
    model = get_model(session, actor=actor, model_id=model_id)
    with audited(
        session, actor=actor, action="model.promote.request", resource_type="model", team_id=model.team_id
    ) as info:
        info["resource_id"] = model.id
        info["detail"] = {"version": version}
        if scenario is not None and scenario != model.scenario:
            raise ValidationError(f"model {model.name!r} is a {model.scenario} model, not {scenario}")
        row = version_row(session, model=model, version=version)
        if row.run_status != "FINISHED":
            raise ValidationError(
                f"version {version} of {model.name!r} comes from run {row.run_id}, which ended {row.run_status}: "
                "only a finished run's version can be promoted"
            )
        if model.champion_version == row.version:
            raise ValidationError(f"version {version} is already the champion of {model.name!r}")
        if model.evaluation_release_id is None:
            if row.release_id is None:
                raise ValidationError(f"model {model.name!r} has no evaluation release: set one first")
            model.evaluation_release_id = row.release_id
            session.add(model)
        evaluation = ModelEvaluation(
            team_id=model.team_id,
            model_id=model.id,  # type: ignore[arg-type]
            version=row.version,
            release_id=model.evaluation_release_id,
            metric=model.gate_metric,
            threshold=model.gate_threshold,
            tolerance=model.gate_tolerance,
            automatic=automatic,
            requested_by=actor.user_id,
        )
        session.add(evaluation)
        session.flush()
        info["detail"] = {"version": version, "evaluation_id": evaluation.id, "automatic": automatic}
    return evaluation


def claim_evaluation(session: Session, *, evaluation_id: int, flow_run_id: str | None) -> bool:
    """The gate's flow run takes the evaluation (pending → running, or a retry of the same flow run)."""
    if transition(
        session,
        ModelEvaluation,
        evaluation_id,
        from_statuses=[EvaluationStatus.PENDING],
        to_status=EvaluationStatus.RUNNING,
        values={"flow_run_id": flow_run_id},
    ):
        return True
    row = session.get(
        ModelEvaluation, evaluation_id, populate_existing=True
    )  # the UPDATE above bypassed the session
    return row is not None and row.status == EvaluationStatus.RUNNING and row.flow_run_id == flow_run_id


def evaluation_gate(evaluation: ModelEvaluation) -> Gate:
    """The gate as it was when the promotion was asked for."""
    return Gate(metric=evaluation.metric, threshold=evaluation.threshold, tolerance=evaluation.tolerance)


@dataclass(frozen=True, slots=True)
class Outcome:
    evaluation: ModelEvaluation
    promoted: bool
    previous_champion: int | None


def _requester(session: Session, evaluation: ModelEvaluation) -> Actor:
    user = session.get(User, evaluation.requested_by) if evaluation.requested_by is not None else None
    if user is None:
        return Actor(user_id=None, username="system")
    return Actor(user_id=user.id, username=user.username)


def finish_evaluation(
    session: Session,
    *,
    evaluation_id: int,
    decision: Decision,
    champion_version: int | None,
    candidate_metrics: dict[str, Any],
    champion_metrics: dict[str, Any] | None,
) -> Outcome:
    """Record the gate's decision; a promotion moves the champion only if it is still ``champion_version`` (what
    the evaluation compared with) — otherwise the candidate is rejected saying the champion changed meanwhile.
    Audited as the requester's ``model.promote`` (ok when promoted, denied when rejected)."""
    evaluation = session.get(ModelEvaluation, evaluation_id)
    model = session.get(Model, evaluation.model_id) if evaluation is not None else None
    if evaluation is None or model is None:
        raise NotFoundError("model evaluation", evaluation_id)
    if evaluation.status not in OPEN_EVALUATIONS:
        return Outcome(
            evaluation, evaluation.status == EvaluationStatus.PROMOTED, evaluation.champion_version
        )
    promoted, reason = decision.promote, decision.reason
    if promoted and not move_alias(
        session,
        model=model,
        alias=CHAMPION,
        expected=champion_version,
        version=evaluation.version,
        cause=AliasCause.PROMOTION,
        actor_id=evaluation.requested_by,
        evaluation_id=evaluation.id,
    ):
        promoted = False
        reason = (
            f"the champion changed from v{champion_version} to v{model.champion_version} while v{evaluation.version} "
            "was evaluated; ask again to compare with the new champion"
        )
    values = {
        "champion_version": champion_version,
        "metric": decision.metric,
        "direction": decision.direction,
        "candidate_value": decision.candidate_value,
        "champion_value": decision.champion_value,
        "candidate_metrics": candidate_metrics,
        "champion_metrics": champion_metrics or {},
        "reason": reason[:4000],
        "finished_at": utcnow(),
    }
    status = EvaluationStatus.PROMOTED if promoted else EvaluationStatus.REJECTED
    transition(
        session,
        ModelEvaluation,
        evaluation_id,
        from_statuses=OPEN_EVALUATIONS,
        to_status=status,
        values=values,
    )
    session.refresh(evaluation)
    record(
        session,
        actor=_requester(session, evaluation),
        action="model.promote",
        resource_type="model",
        resource_id=model.id,
        team_id=model.team_id,
        outcome="ok" if promoted else "denied",
        detail={
            "permission": "models:promote",
            "version": evaluation.version,
            "evaluation_id": evaluation.id,
            "decision": status.value,
            "reason": reason[:500],
            "automatic": evaluation.automatic,
        },
    )
    return Outcome(evaluation, promoted, champion_version)


@requires("models:promote")
def abandon_evaluation(session: Session, *, actor: Actor, evaluation_id: int, error: str) -> bool:
    """An edge whose launch of the gate failed ends the evaluation it asked for (still pending: no flow run took
    it) as failed, with ``error`` (why the launch failed) as the reason; nothing moves. Returns whether it was
    still pending."""
    evaluation = get_evaluation(session, actor=actor, evaluation_id=evaluation_id)
    if evaluation.status != EvaluationStatus.PENDING:
        return False
    reason = f"the promotion gate could not be launched: {error}"
    return fail_evaluation(session, evaluation_id=evaluation_id, error=reason)


def fail_evaluation(session: Session, *, evaluation_id: int, error: str, held_by: str | None = None) -> bool:
    """The gate could not evaluate (container failed, MLflow down): nothing moves; recorded and audited.
    ``held_by``: only if that flow run still holds the evaluation (the reconciler failing an interrupted one: a
    retry that re-claimed it meanwhile keeps it)."""
    won = transition(
        session,
        ModelEvaluation,
        evaluation_id,
        from_statuses=OPEN_EVALUATIONS,
        to_status=EvaluationStatus.FAILED,
        values={"reason": error[:4000], "finished_at": utcnow()},
        where=[col(ModelEvaluation.flow_run_id) == held_by] if held_by is not None else (),
    )
    evaluation = session.get(ModelEvaluation, evaluation_id, populate_existing=True)
    if won and evaluation is not None:
        record(
            session,
            actor=_requester(session, evaluation),
            action="model.promote",
            resource_type="model",
            resource_id=evaluation.model_id,
            team_id=evaluation.team_id,
            outcome="error",
            detail={
                "permission": "models:promote",
                "version": evaluation.version,
                "evaluation_id": evaluation.id,
                "error": error[:500],
            },
        )
    return won


def running_evaluations(session: Session) -> list[tuple[int, str | None]]:
    """Evaluations a gate's flow run holds, with that flow run's id (the reconciler's view: no actor)."""
    rows = session.exec(
        select(ModelEvaluation.id, ModelEvaluation.flow_run_id).where(
            ModelEvaluation.status == EvaluationStatus.RUNNING
        )
    ).all()
    return [(int(ident or 0), flow_run_id) for ident, flow_run_id in rows]


def history(session: Session, *, model_id: int) -> list[AliasEvent]:
    return list(
        session.exec(select(AliasEvent).where(AliasEvent.model_id == model_id).order_by(col(AliasEvent.id)))
    )


@requires("models:read")
def alias_history(session: Session, *, actor: Actor, model_id: int) -> list[AliasEvent]:
    model = get_model(session, actor=actor, model_id=model_id)
    return history(session, model_id=model.id)  # type: ignore[arg-type]


@requires("models:promote")
def rollback(session: Session, *, actor: Actor, model_id: int) -> Model:
    """Move ``champion`` back to the previous champion (``catalog.model_gate.rollback_target``)."""
    model = get_model(session, actor=actor, model_id=model_id)
    with audited(
        session, actor=actor, action="model.rollback", resource_type="model", team_id=model.team_id
    ) as info:
        info["resource_id"] = model.id
        moves = [Move(e.alias, e.version, e.cause) for e in history(session, model_id=model.id)]  # type: ignore[arg-type]
        target = rollback_target(moves)
        if target is None:
            raise ValidationError(f"model {model.name!r} has no earlier champion to roll back to")
        current = model.champion_version
        if not move_alias(
            session,
            model=model,
            alias=CHAMPION,
            expected=current,
            version=target,
            cause=AliasCause.ROLLBACK,
            actor_id=actor.user_id,
        ):
            raise ConflictError(f"the champion of {model.name!r} changed meanwhile; try again")
        info["detail"] = {"from": current, "to": target}
    return model


@requires("models:manage")
def set_alias(session: Session, *, actor: Actor, model_id: int, alias: str, version: int | None) -> Model:
    """Point an alias at a version of the model by hand (None clears it), bypassing the gate."""
    model = get_model(session, actor=actor, model_id=model_id)
    with audited(
        session, actor=actor, action="model.alias", resource_type="model", team_id=model.team_id
    ) as info:
        info["resource_id"] = model.id
        info["detail"] = {"alias": alias, "version": version}
        _check_alias(alias)
        if version is not None:
            row = version_row(session, model=model, version=version)
            if row.run_status != "FINISHED":
                raise ValidationError(f"version {version} comes from a run that ended {row.run_status}")
        current = getattr(model, f"{alias}_version")
        if current != version and not move_alias(
            session,
            model=model,
            alias=alias,
            expected=current,
            version=version,
            cause=AliasCause.MANUAL,
            actor_id=actor.user_id,
        ):
            raise ConflictError(f"the {alias} of {model.name!r} changed meanwhile; try again")
    return model


@requires("models:read")
def get_evaluation(session: Session, *, actor: Actor, evaluation_id: int) -> ModelEvaluation:
    return get_scoped(session, ModelEvaluation, evaluation_id, actor, kind="model evaluation")


@requires("models:read")
def list_evaluations(
    session: Session, *, actor: Actor, model_id: int, offset: int = 0, limit: int = 50
) -> tuple[int, list[ModelEvaluation]]:
    model = get_model(session, actor=actor, model_id=model_id)
    stmt = scoped(select(ModelEvaluation), ModelEvaluation, actor).where(ModelEvaluation.model_id == model.id)
    return page(session, stmt, offset=offset, limit=limit, order_by=col(ModelEvaluation.id).desc())


def aliases_to_sync(session: Session) -> list[Model]:
    """Models whose MLflow aliases lag the catalog's."""
    return list(session.exec(select(Model).where(Model.aliases_synced != Model.alias_revision)))


def mark_aliases_synced(session: Session, *, model_id: int, revision: int) -> None:
    session.exec(  # type: ignore[call-overload]
        update(Model)
        .where(col(Model.id) == model_id, Model.aliases_synced < revision)
        .values(aliases_synced=revision)
        .execution_options(synchronize_session=False)
    )
