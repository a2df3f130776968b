"""Model flows: ``promote-model`` (the promotion gate), ``model-aliases-moved`` (after a rollback or an alias set by
hand), the gate asked at the end of a training job (``after_training``, from the watchdog) and the start-up
reconciliation of versions and MLflow aliases.

The gate: claim the evaluation (a retry of the same flow run re-claims it), evaluate the candidate and the
current champion in one evaluation container on the evaluation's release (``tasks.evaluation``), decide
(``catalog.model_gate.decide``, pure), record the decision (``finish_evaluation``: the champion moves only if it
is still the one compared with), then tag the version in MLflow, mirror the aliases and publish the NATS event.
A failure before the decision fails the evaluation (nothing moves) and publishes ``evaluation_failed``; after
it, MLflow and NATS are best effort (the decision is in the catalog and its audit; ``reconcile_models`` retries
the aliases).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from catalog.db import session_scope
from catalog.errors import CatalogError, ConflictError, NotFoundError
from catalog.model_gate import Decision, decide
from catalog.models import (
    OPEN_EVALUATIONS,
    AliasCause,
    AliasEvent,
    DatasetRelease,
    EvaluationStatus,
    Model,
    ModelEvaluation,
    TrainJob,
    User,
)
from catalog.services import model_promotion
from catalog.services.teams import actor_for
from infra.settings import get_settings
from tasks import events
from tasks.evaluation import EvaluationError, release_input, run_evaluation
from tasks.models import reconcile_models, record_job_versions, sync_aliases, tag_version
from tasks.training import TrackingError

log = logging.getLogger(__name__)


def _flow_run_id() -> str | None:
    ident = flow_run.get_id()
    return str(ident) if ident else None


def _model_uri(model: Model, version: int) -> str:
    return f"models:/{model.mlflow_name}/{version}"


@dataclass(frozen=True, slots=True)
class Plan:
    evaluation: ModelEvaluation
    model: Model
    release: DatasetRelease
    champion: int | None


def _plan(evaluation_id: int) -> Plan:
    with session_scope() as session:
        evaluation = session.get(ModelEvaluation, evaluation_id)
        model = session.get(Model, evaluation.model_id) if evaluation is not None else None
        if evaluation is None or model is None:
            raise NotFoundError("model evaluation", evaluation_id)
        release = session.get(DatasetRelease, evaluation.release_id) if evaluation.release_id else None
        if release is None or release.status != "published" or not release.object_key or not release.sha256:
            raise EvaluationError(
                f"the evaluation release {evaluation.release_id} of model {model.name!r} is not a published "
                "release any more"
            )
        # The champion compared with: finish_evaluation moves the alias only if it is still this one.
        return Plan(evaluation, model, release, model.champion_version)


def _evaluate(plan: Plan) -> tuple[Decision, dict[str, Any], dict[str, Any] | None]:
    evaluation, model = plan.evaluation, plan.model
    candidate, champion = evaluation.version, plan.champion
    if champion == candidate:
        return Decision(False, f"v{candidate} became the champion while it waited for the gate"), {}, None
    uris = [_model_uri(model, candidate)] + ([_model_uri(model, champion)] if champion is not None else [])
    result = run_evaluation(
        evaluation_id=int(evaluation.id or 0),
        model_id=int(model.id or 0),
        team_id=model.team_id,
        scenario=model.scenario,
        release=release_input(plan.release.object_key or "", plan.release.sha256 or ""),
        model_uris=uris,
    )
    found = result["models"]
    candidate_metrics = found.get(uris[0]) or {}
    if "error" in candidate_metrics:
        raise EvaluationError(f"v{candidate} could not be evaluated: {candidate_metrics['error']}")
    champion_metrics = found.get(uris[1]) if champion is not None else None
    broken = champion_metrics.get("error") if champion_metrics else None
    decision = decide(
        model.scenario,
        model_promotion.evaluation_gate(evaluation),
        candidate_version=candidate,
        candidate=candidate_metrics,
        champion_version=champion,
        champion=None if broken else champion_metrics,
    )
    if broken:
        # Said as it is: "has no <metric>" would hide that the champion could not be evaluated at all.
        decision = dataclasses.replace(
            decision, reason=f"champion v{champion} could not be evaluated ({broken}); {decision.reason}"
        )
    return decision, candidate_metrics, champion_metrics


def _publish(event: str, evaluation: ModelEvaluation, reason: str) -> None:
    with session_scope() as session:
        model = session.get(Model, evaluation.model_id)
    if model is None:
        return
    events.publish(
        events.model_event(
            event,
            model=model,
            version=evaluation.version,
            champion_version=model.champion_version,
            reason=reason,
            evaluation_id=evaluation.id,
        )
    )


def _after_decision(evaluation: ModelEvaluation) -> None:
    """MLflow's tags and aliases, then the event: best effort, the decision is recorded already."""
    logger = get_run_logger()
    with session_scope() as session:
        model = session.get(Model, evaluation.model_id)
    assert model is not None
    tags = {
        "status": evaluation.status,
        "metric": evaluation.metric or "",
        "value": "" if evaluation.candidate_value is None else repr(evaluation.candidate_value),
        "reason": evaluation.reason,
        "evaluation_id": str(evaluation.id),
    }
    try:
        tag_version(model.mlflow_name, evaluation.version, tags)
    except TrackingError as exc:
        logger.warning("could not tag v%s of %s in MLflow: %s", evaluation.version, model.name, exc)
    try:
        sync_aliases(model.id)
    except TrackingError as exc:
        logger.warning(
            "MLflow's aliases of %s lag the catalog's (retried by the reconciler): %s", model.name, exc
        )
    _publish(str(evaluation.status), evaluation, evaluation.reason)
    if evaluation.status == EvaluationStatus.PROMOTED:
        _roll_servings(model.id)  # type: ignore[arg-type]


def _roll_servings(model_id: int) -> None:
    """The servings following the model's aliases move to where they point now (``serving-follow`` as a subflow).
    Its failure is recorded on each serving concerned and retried by ``sync-servings``; it never undoes a move."""
    from flows.serving import serving_follow

    state = serving_follow(model_id, return_state=True)
    if state.is_failed():
        get_run_logger().warning("servings of model %s did not all follow: %s", model_id, state.message)


def _summary(evaluation: ModelEvaluation) -> dict[str, Any]:
    return {
        "evaluation_id": evaluation.id,
        "model_id": evaluation.model_id,
        "version": evaluation.version,
        "status": str(evaluation.status),
        "reason": evaluation.reason,
        "champion_version": evaluation.champion_version,
    }


@flow(name="promote-model", log_prints=True)
def promote_model(evaluation_id: int) -> dict[str, Any]:
    """The promotion gate for one evaluation (``model_promotion.request_promotion`` made it)."""
    logger = get_run_logger()
    flow_run_id = _flow_run_id()
    with session_scope() as session:
        claimed = model_promotion.claim_evaluation(
            session, evaluation_id=evaluation_id, flow_run_id=flow_run_id
        )
        current = session.get(ModelEvaluation, evaluation_id)
    if current is None:
        raise NotFoundError("model evaluation", evaluation_id)
    if not claimed:
        if current.status not in OPEN_EVALUATIONS and flow_run_id and current.flow_run_id == flow_run_id:
            # A retry of the run that decided: only what follows the decision is left to do.
            _after_decision(current)
            return _summary(current)
        raise ConflictError(
            f"evaluation {evaluation_id} is {current.status}"
            + (f" under flow run {current.flow_run_id}" if current.flow_run_id else "")
        )
    try:
        plan = _plan(evaluation_id)
        logger.info(
            "evaluating v%s of %s against champion %s",
            plan.evaluation.version,
            plan.model.name,
            f"v{plan.champion}" if plan.champion is not None else "(none)",
        )
        decision, candidate_metrics, champion_metrics = _evaluate(plan)
        with session_scope() as session:
            outcome = model_promotion.finish_evaluation(
                session,
                evaluation_id=evaluation_id,
                decision=decision,
                champion_version=plan.champion,
                candidate_metrics=candidate_metrics,
                champion_metrics=champion_metrics,
            )
    except Exception as exc:
        reason = str(exc) or type(exc).__name__
        with session_scope() as session:
            failed = model_promotion.fail_evaluation(session, evaluation_id=evaluation_id, error=reason)
        if failed:
            _publish("evaluation_failed", current, reason[:1000])
        logger.error("evaluation %s failed: %s", evaluation_id, reason)
        raise
    logger.info(
        "v%s of %s: %s (%s)",
        outcome.evaluation.version,
        plan.model.name,
        outcome.evaluation.status,
        outcome.evaluation.reason,
    )
    _after_decision(outcome.evaluation)
    return _summary(outcome.evaluation)


def _alias_reason(session: Any, event: AliasEvent) -> tuple[str, str]:
    user = session.get(User, event.actor_id) if event.actor_id is not None else None
    who = user.username if user is not None else "the platform"
    if event.cause == AliasCause.ROLLBACK:
        return (
            "rolled_back",
            f"champion rolled back from v{event.previous_version} to v{event.version} by {who}",
        )
    target = f"v{event.version}" if event.version is not None else "nothing (cleared)"
    return "alias_set", f"{event.alias} set to {target} by {who} (was {event.previous_version or 'unset'})"


@flow(name="model-aliases-moved", log_prints=True)
def model_aliases_moved(model_id: int) -> dict[str, Any]:
    """After a rollback or an alias set by hand: MLflow's aliases follow the catalog's, and the last move is
    published (``rolled_back`` or ``alias_set``; a promotion's own event comes from its gate)."""
    logger = get_run_logger()
    synced = True
    try:
        sync_aliases(model_id)
    except TrackingError as exc:
        synced = False
        logger.warning(
            "MLflow's aliases of model %s lag the catalog's (retried by the reconciler): %s", model_id, exc
        )
    with session_scope() as session:
        model = session.get(Model, model_id)
        if model is None:
            raise NotFoundError("model", model_id)
        moves = model_promotion.history(session, model_id=model_id)
        last = moves[-1] if moves else None
        published, payload = None, None
        if last is not None and last.cause != AliasCause.PROMOTION:
            published, reason = _alias_reason(session, last)
            payload = events.model_event(
                published,
                model=model,
                version=last.version,
                champion_version=model.champion_version,
                reason=reason,
            )
    if payload is not None:
        events.publish(payload)
    _roll_servings(model_id)
    return {"model_id": model_id, "mlflow_synced": synced, "event": published}


# ---------------------------------------------------------------- training end, start-up


def _auto_promotion(job: TrainJob, version: int) -> int | None:
    """Ask the gate for ``version`` as the job's creator (their permission decides, and the audit names them);
    None (logged, audited by the service) when the creator may not or the version cannot be promoted."""
    with session_scope() as session:
        user = session.get(User, job.created_by) if job.created_by is not None else None
        if user is None:
            log.warning("job %s asks for auto-promotion but has no creator to ask as", job.id)
            return None
    try:
        with session_scope() as session:
            actor = actor_for(session, username=user.username)
            evaluation = model_promotion.request_promotion(
                session, actor=actor, model_id=job.model_id or 0, version=version, automatic=True
            )
            return int(evaluation.id or 0)
    except CatalogError as exc:
        log.warning("auto-promotion of v%s of job %s refused: %s", version, job.id, exc)
        return None


def after_training(job_id: int, run_id: str) -> None:
    """A job completed: record its model versions and, with ``auto_promote``, run the gate for the version this
    run registered. Never raises: the job's outcome is decided already, whatever the gate says."""
    try:
        _after_training(job_id, run_id)
    except Exception:  # see above; the reconciler records what was missed
        log.exception("after the training of job %s", job_id)


def _after_training(job_id: int, run_id: str) -> None:
    try:
        recorded = record_job_versions(job_id)
    except TrackingError as exc:
        log.warning("could not record the versions of job %s (the reconciler will): %s", job_id, exc)
        return
    with session_scope() as session:
        job = session.get(TrainJob, job_id)
    mine = [row for row in recorded if row.run_id == run_id]
    if job is None or not job.auto_promote or not mine:
        return
    row = max(mine, key=lambda r: r.version)
    evaluation_id = _auto_promotion(job, row.version)
    if evaluation_id is None:
        return
    try:
        if get_settings().prefect.run_mode == "inline":
            state = promote_model(evaluation_id, return_state=True)  # type: ignore[call-overload]
            log.info("auto-promotion of v%s of job %s: %s", row.version, job_id, state.type.value)
        else:
            from flows.launch import run_flow

            run_flow("promote-model", {"evaluation_id": evaluation_id}, wait=False)
    except Exception as exc:  # noqa: BLE001 - the job is done; an evaluation left pending can be asked again
        log.warning("could not run the gate for evaluation %s: %s", evaluation_id, exc)


def reconcile_models_quietly() -> None:
    """Versions the catalog lacks are recorded, MLflow's aliases brought in step (``tasks.models.reconcile_models``):
    by the flow runner (flows/serve_all.py) once before it takes runs, and by every ``reconcile-training``
    (300 s). Never fatal: what MLflow could not answer is retried next time."""
    try:
        problem = reconcile_models()
    except Exception as exc:  # noqa: BLE001 - the runner must start anyway; the next reconcile retries
        problem = f"{type(exc).__name__}: {exc}"
    if problem is not None:
        log.warning("reconciling models failed (retried by reconcile-training): %s", problem)
