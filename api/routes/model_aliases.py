"""Moving a model's aliases: asking the promotion gate (the `promote-model` flow decides, followed through the
evaluation it decides), its evaluations, rolling the champion back, setting an alias by hand, and the history of
every move. A rollback or an alias set by hand is recorded at once (``catalog.services.model_promotion``); the
`model-aliases-moved` flow then brings MLflow's aliases and the servings that follow the alias in step.

Flows are launched as the other routes launch them (``api.launching``), after the catalog change is committed
(the flow run, another process, reads it). The Prefect server is asked first, so nothing is recorded that no
flow could act on (503); an evaluation whose flow could not be launched after all is marked failed with the
reason, never left pending.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.convertors import Convertor, register_url_convertor

from api.deps import ActorDep, IdPath
from api.errors import ApiError
from api.launching import launch, progress
from api.paging import Page, WindowDep
from api.routes.models import model_out
from catalog.db import read_session, session_scope
from catalog.models import EvaluationStatus, ModelEvaluation
from catalog.scoping import Actor
from catalog.services import model_promotion
from catalog.services import models as models_service
from flows.launch import PrefectUnreachable, check_reachable
from mlops_lite.schemas.models import (
    AliasEventOut,
    AliasName,
    EvaluationOut,
    ModelChange,
    Promote,
    PromotionLaunch,
    SetAlias,
)
from mlops_lite.schemas.runs import Progress

router = APIRouter(tags=["models"])


class _AliasConvertor(Convertor[str]):
    """A path segment that is an alias: so `/aliases/history` is not read as an alias named "history" (its other
    methods answer 405, not 422) and an unknown alias matches no route (404)."""

    regex = "champion|challenger"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("alias", _AliasConvertor())

PROMOTE_FLOW = "promote-model"
ALIASES_FLOW = "model-aliases-moved"
AliasPath = Annotated[AliasName, Path(description="champion or challenger.")]


def _require_prefect() -> None:
    """Before a change a flow must follow is recorded: a Prefect server that does not answer is a 503 and
    nothing is recorded."""
    try:
        check_reachable()
    except PrefectUnreachable as exc:
        raise ApiError(503, str(exc), "unavailable") from None


def _evaluation(actor: Actor, evaluation_id: int) -> ModelEvaluation:
    with read_session() as session:
        row = model_promotion.get_evaluation(session, actor=actor, evaluation_id=evaluation_id)
        session.expunge(row)  # kept as read: the read session's rollback would expire it
        return row


def _launch_failed(actor: Actor, evaluation_id: int, exc: BaseException) -> None:
    """The gate's flow run was not launched: the evaluation ends failed, saying why (nothing moved)."""
    why = exc.message if isinstance(exc, ApiError) else f"{type(exc).__name__}: {exc}"
    with session_scope() as session:
        model_promotion.abandon_evaluation(
            session,
            actor=actor,
            evaluation_id=evaluation_id,
            error=why,
        )


@router.post(
    "/models/{model_id:int}/promote",
    response_model=PromotionLaunch,
    status_code=202,
    summary="Ask the promotion gate to promote a version",
)
def promote(model_id: IdPath, body: Promote, actor: ActorDep) -> PromotionLaunch:
    """Creates the evaluation (pending) and launches the gate (`promote-model`), which evaluates the version
    and the champion on the model's evaluation release and promotes or rejects it with the reason; follow it
    with ``GET /evaluations/{id}`` (or ``/progress?flow_run_id=``). A version of another scenario's model, one
    that does not exist, comes from a run that did not finish, or is the champion already: refused (404, 422),
    nothing recorded."""
    _require_prefect()
    with session_scope() as session:
        evaluation = model_promotion.request_promotion(
            session, actor=actor, model_id=model_id, version=body.version
        )
        evaluation_id = int(evaluation.id or 0)
    try:
        launched = launch(PROMOTE_FLOW, {"evaluation_id": evaluation_id})
    except BaseException as exc:
        _launch_failed(actor, evaluation_id, exc)
        raise
    return PromotionLaunch(
        evaluation=EvaluationOut.model_validate(_evaluation(actor, evaluation_id)), launch=launched
    )


@router.get(
    "/models/{model_id:int}/evaluations",
    response_model=Page[EvaluationOut],
    summary="A model's promotion evaluations",
)
def list_evaluations(model_id: IdPath, actor: ActorDep, window: WindowDep) -> Page[EvaluationOut]:
    """Newest first: each candidate, the champion it was compared with, the metric values and the decision."""
    with read_session() as session:
        total, rows = model_promotion.list_evaluations(
            session, actor=actor, model_id=model_id, offset=window.offset, limit=window.limit
        )
        items = [EvaluationOut.model_validate(r) for r in rows]
    return Page(items=items, total=total, offset=window.offset, limit=window.limit)


@router.get(
    "/evaluations/{evaluation_id:int}", response_model=EvaluationOut, summary="Show a promotion evaluation"
)
def get_evaluation(evaluation_id: IdPath, actor: ActorDep) -> EvaluationOut:
    return EvaluationOut.model_validate(_evaluation(actor, evaluation_id))


@router.get(
    "/evaluations/{evaluation_id:int}/progress",
    response_model=Progress,
    summary="Follow a promotion's flow run",
)
def evaluation_progress(
    evaluation_id: IdPath,
    actor: ActorDep,
    flow_run_id: Annotated[
        str, Query(min_length=1, max_length=64, description="The promotion's flow run id.")
    ],
) -> Progress:
    """The flow run's state beside the evaluation's status (``error``: why the gate failed); 404 unless the
    flow run works on this evaluation."""
    _evaluation(actor, evaluation_id)  # scoping first: another team's evaluation is a 404 before Prefect

    def row() -> tuple[str | None, str | None, str | None]:
        found = _evaluation(actor, evaluation_id)
        failed = found.status == EvaluationStatus.FAILED
        return found.status, found.flow_run_id, (found.reason or None) if failed else None

    return progress(flow_run_id, expect={"evaluation_id": evaluation_id}, read_row=row)


def _moved(actor: Actor, model_id: int) -> ModelChange:
    """The model as the move left it (committed), and the flow bringing MLflow and the servings in step."""
    with read_session() as session:
        out = model_out(models_service.get_model(session, actor=actor, model_id=model_id))
    return ModelChange(model=out, launch=launch(ALIASES_FLOW, {"model_id": model_id}))


@router.post("/models/{model_id:int}/rollback", response_model=ModelChange, summary="Roll the champion back")
def rollback(model_id: IdPath, actor: ActorDep) -> ModelChange:
    """Move ``champion`` back to the previous champion (repeated, further back through earlier champions); 422
    when there is none. Recorded at once; the servings following ``champion`` roll back with it (the flow in
    ``launch``)."""
    _require_prefect()
    with session_scope() as session:
        model_promotion.rollback(session, actor=actor, model_id=model_id)
    return _moved(actor, model_id)


@router.put(
    "/models/{model_id:int}/aliases/{alias:alias}", response_model=ModelChange, summary="Set an alias by hand"
)
def set_alias(model_id: IdPath, alias: AliasPath, body: SetAlias, actor: ActorDep) -> ModelChange:
    """Point the alias at a version from a finished run, or clear it (null), bypassing the gate
    (``models:manage``). An alias already there changes nothing and launches nothing."""
    with read_session() as session:
        current = getattr(
            models_service.get_model(session, actor=actor, model_id=model_id), f"{alias}_version"
        )
    if current != body.version:
        _require_prefect()
    with session_scope() as session:
        before = models_service.get_model(session, actor=actor, model_id=model_id).alias_revision
        model = model_promotion.set_alias(
            session, actor=actor, model_id=model_id, alias=alias, version=body.version
        )
        unchanged = model.alias_revision == before
        out = model_out(model)
    return ModelChange(model=out) if unchanged else _moved(actor, model_id)


@router.get(
    "/models/{model_id:int}/aliases/history",
    response_model=list[AliasEventOut],
    summary="Every move of a model's aliases",
)
def alias_history(model_id: IdPath, actor: ActorDep) -> list[AliasEventOut]:
    """Oldest first: promotions, rollbacks and moves by hand, with who and which evaluation moved each."""
    with read_session() as session:
        rows = model_promotion.alias_history(session, actor=actor, model_id=model_id)
        return [AliasEventOut.model_validate(r) for r in rows]
