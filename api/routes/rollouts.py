"""Gray releases over HTTP: a serving's traffic (``PUT /servings/{id}/traffic``: a canary and its weight, a shadow,
a routing header), progressive roll-outs (``POST /servings/{id}/rollouts``: launches the ``serving-rollout`` flow),
their account (``GET /rollouts/{id}``: every window's figures and decision) and a person's pause, resume or abort
(``POST /rollouts/{id}/actions``).

Every change goes through ``catalog.services.traffic`` and ``catalog.services.rollouts`` (scoped: another team's
serving or roll-out is the same 404 as a missing one; ``servings:manage`` to change, ``servings:read`` to look).
A request is checked first; a good change a flow must apply is then refused with 503, and nothing stored, when
Prefect does not answer.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ActorDep, IdPath, SessionDep
from api.launching import launch
from api.paging import Page, PageDep
from api.routes.servings import _launch, _out, _require_prefect
from catalog.db import read_session
from catalog.models import DesiredState, Rollout, Serving
from catalog.scoping import Actor
from catalog.services import rollouts as rollout_service
from catalog.services import traffic as traffic_service
from mlops_lite.schemas.rollouts import (
    RolloutAction,
    RolloutChange,
    RolloutDecisionOut,
    RolloutOut,
    StartRollout,
    TrafficChange,
)
from mlops_lite.schemas.servings import ServingChange

router = APIRouter(tags=["rollouts"])


def rollout_out(rollout: Rollout, actor: Actor | None = None) -> RolloutOut:
    """The roll-out; with ``actor``, its decisions too (read as that actor)."""
    out = RolloutOut.model_validate(rollout)
    if actor is not None:
        with read_session() as session:
            rows = rollout_service.decisions(session, actor=actor, rollout_id=rollout.id)  # type: ignore[arg-type]
            out.decisions = [RolloutDecisionOut.model_validate(r) for r in rows]
    return out


@router.put(
    "/servings/{serving_id:int}/traffic", response_model=ServingChange, summary="Set a serving's traffic"
)
def set_traffic(
    serving_id: IdPath, body: TrafficChange, actor: ActorDep, session: SessionDep
) -> ServingChange:
    """A field left out keeps its value, null clears it (a canary cleared takes its weight with it). A running
    serving's server is told at once (the serving-traffic flow, in ``launch``): versions it lacks load beside the
    ones answering, a new weight applies without a load."""
    sent = body.model_fields_set
    kept = traffic_service.UNSET
    serving = traffic_service.set_traffic(
        session,
        actor=actor,
        serving_id=serving_id,
        canary=body.canary if "canary" in sent else kept,
        weight=body.weight,
        shadow=body.shadow if "shadow" in sent else kept,
        routing_header=body.routing_header if "routing_header" in sent else kept,
        model_id=body.model_id,
    )
    running = serving.desired_state == DesiredState.RUNNING
    if running:
        _require_prefect()  # a change nothing could apply now is not stored (the session is rolled back)
    launched = _launch(session, "serving-traffic", serving_id) if running else None
    return ServingChange(serving=_out(serving), launch=launched)


@router.post(
    "/servings/{serving_id:int}/rollouts",
    response_model=RolloutChange,
    status_code=201,
    summary="Roll a canary out progressively",
)
def start_rollout(
    serving_id: IdPath, body: StartRollout, actor: ActorDep, session: SessionDep
) -> RolloutChange:
    """The canary (a version of the serving's model) takes each step's weight for ``dwell_seconds``; each window
    is judged against ``thresholds`` (error rate, p99 against the stable version's, the scenario's output
    checks). Every step passed: the canary becomes the serving's stable version and the model's champion. A window
    failed: the canary is taken off at once. The serving must be running; one roll-out at a time (409)."""
    rollout = rollout_service.start_rollout(session, actor=actor, serving_id=serving_id, request=body)
    _require_prefect()  # checked once the request is known good; on 503 the session is rolled back
    session.commit()
    # The flow claims the roll-out for its run itself (catalog.services.rollouts.claim_flow_run).
    launched = launch("serving-rollout", {"rollout_id": rollout.id})
    session.refresh(rollout)
    return RolloutChange(rollout=rollout_out(rollout), launch=launched)


@router.get(
    "/servings/{serving_id:int}/rollouts", response_model=Page[RolloutOut], summary="A serving's roll-outs"
)
def list_rollouts(serving_id: IdPath, actor: ActorDep, paging: PageDep) -> Page[RolloutOut]:
    with read_session() as session:
        total, rows = rollout_service.list_rollouts(
            session, actor=actor, serving_id=serving_id, offset=paging.offset, limit=paging.limit
        )
        return Page(
            items=[rollout_out(r) for r in rows], total=total, offset=paging.offset, limit=paging.limit
        )


@router.get("/rollouts/{rollout_id:int}", response_model=RolloutOut, summary="A roll-out and its decisions")
def get_rollout(rollout_id: IdPath, actor: ActorDep) -> RolloutOut:
    with read_session() as session:
        rollout = rollout_service.get_rollout(session, actor=actor, rollout_id=rollout_id)
        session.expunge(rollout)
    return rollout_out(rollout, actor)


@router.post(
    "/rollouts/{rollout_id:int}/actions", response_model=RolloutOut, summary="Pause, resume or abort"
)
def control_rollout(
    rollout_id: IdPath, body: RolloutAction, actor: ActorDep, session: SessionDep
) -> RolloutOut:
    """Pause holds the canary at its weight (the window under way is not judged); resume starts the step's window
    again; abort takes the canary off at once. 409 when the roll-out's status does not allow it (ended already)."""
    from tasks import events

    rollout = rollout_service.control_rollout(
        session, actor=actor, rollout_id=rollout_id, action=body.action, reason=body.reason
    )
    if body.action == "abort":
        _require_prefect()
    serving = session.get(Serving, rollout.serving_id)
    said = rollout_service.decisions(session, actor=actor, rollout_id=rollout_id)[-1].reason
    session.commit()
    if body.action == "abort":
        launch("serving-traffic", {"serving_id": rollout.serving_id})
    scenario = serving.scenario if serving else ""
    events.publish_rollout(body.action, rollout=rollout, scenario=scenario, reason=said)
    return rollout_out(rollout, actor)
