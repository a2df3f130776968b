"""Serving flows: start (create launches, an existing container is adopted), stop, remove, delete record,
restart (applies an update), follow (servings of a model roll to where its aliases point now), and the
scheduled state sync, which also rolls forward any running serving whose alias moved without it (a follow cut
short by a restart). Every flow is safe to re-run: desired state is written first, then the runtime is driven
towards it, then the observed state is read back. What to do with a follower is decided by
``flows.follow_rules`` (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prefect import flow, get_run_logger

from catalog.db import session_scope
from catalog.models import DesiredState, Model, Serving
from catalog.scoping import SYSTEM
from catalog.services import models as model_service
from catalog.services import serving as serving_service
from catalog.services.serving import Observation
from flows import follow_rules
from flows.follow_rules import Action
from flows.launch import run_flow
from flows.rollout import reconcile_traffic, resume_rollouts
from tasks.serving import launch, remove_container, stop_container, sync_states, wait_ready
from tasks.serving_rollout import roll_forward, served_version
from tasks.serving_traffic import apply_traffic


def _set_desired(serving_id: int, desired: DesiredState) -> None:
    with session_scope() as session:
        serving_service.set_desired(session, actor=SYSTEM, serving_id=serving_id, desired=desired)


def _has_traffic(serving_id: int) -> bool:
    with session_scope() as session:
        serving = serving_service.get_serving(session, actor=SYSTEM, serving_id=serving_id)
        return serving.canary_version is not None or serving.shadow_version is not None


def _record_error(serving_id: int, error: str | None) -> None:
    with session_scope() as session:
        serving_service.record_error(session, serving_id=serving_id, error=error)


@flow(name="serving-start")
def serving_start(serving_id: int, wait: bool = True) -> dict[str, Any]:
    """Launch (or adopt) the serving's inference container and wait until its model is loaded."""
    _set_desired(serving_id, DesiredState.RUNNING)
    try:
        status = launch(serving_id)
        url = wait_ready(serving_id) if wait else None
        if url is not None and _has_traffic(serving_id):
            # A server starts with its stable version: the canary and shadow it is meant to run go on it now.
            apply_traffic(serving_id)
    except Exception as exc:
        _record_error(serving_id, f"start failed: {exc}")
        sync_states([serving_id])
        raise
    _record_error(serving_id, None)
    sync_states([serving_id])
    return {"serving_id": serving_id, "state": status.state.value, "port": status.port, "url": url}


@flow(name="serving-stop")
def serving_stop(serving_id: int) -> dict[str, Any]:
    """Stop gracefully and delete the container; the record stays and the port is free again."""
    _set_desired(serving_id, DesiredState.STOPPED)
    stop_container(serving_id)
    _record_error(serving_id, None)
    sync_states([serving_id])
    return {"serving_id": serving_id, "desired_state": DesiredState.STOPPED.value}


@flow(name="serving-remove")
def serving_remove(serving_id: int) -> dict[str, Any]:
    """Force-delete the container at once, even while it runs (the record stays, desired = stopped)."""
    _set_desired(serving_id, DesiredState.STOPPED)
    remove_container(serving_id)
    sync_states([serving_id])
    return {"serving_id": serving_id, "removed": True}


@flow(name="serving-delete")
def serving_delete(serving_id: int) -> dict[str, Any]:
    """Delete the container first; the record goes only once the runtime reports the container gone, so a
    failure leaves the record (and a retry can finish the job) — never a container without a record."""
    _set_desired(serving_id, DesiredState.STOPPED)
    try:
        remove_container(serving_id)
    except Exception as exc:
        _record_error(serving_id, f"delete failed, record kept: {exc}")
        raise
    with session_scope() as session:
        serving_service.delete_record(session, actor=SYSTEM, serving_id=serving_id)
    return {"serving_id": serving_id, "deleted": True}


@flow(name="serving-restart")
def serving_restart(serving_id: int) -> dict[str, Any]:
    """Apply a change of model version, train job or port: replace the container if the serving should
    run (a stopped serving just keeps its new settings for its next start)."""
    with session_scope() as session:
        serving = serving_service.get_serving(session, actor=SYSTEM, serving_id=serving_id)
    if serving.desired_state != DesiredState.RUNNING:
        return {"serving_id": serving_id, "restarted": False}
    remove_container(serving_id)
    return {**serving_start(serving_id), "restarted": True}


ENDED = follow_rules.ENDED


def to_restore(servings: Sequence[Serving], observations: Mapping[int, Observation]) -> list[int]:
    """The servings meant to run (desired state) whose container has ended, as the runtime says now.

    Stale observations (runtime unreachable) never count: the container may well be running.
    """
    out: list[int] = []
    for serving in servings:
        seen = observations.get(serving.id or 0)
        if (
            serving.desired_state == DesiredState.RUNNING
            and seen is not None
            and not seen.stale
            and seen.state in ENDED
        ):
            out.append(serving.id or 0)
    return out


@flow(name="sync-servings")
def sync_servings(start_desired: bool = False) -> dict[str, Any]:
    """Scheduled every minute: write every serving's observed state from one batched runtime call.

    With ``start_desired`` (the run at the platform's start, ``flows.serve_all``), every serving meant to run
    whose container ended is started again: `mlops down` stopped it, `mlops up` brings it back.
    """
    observations = sync_states(None)
    stale = sum(1 for o in observations.values() if o.stale)
    restarted: list[int] = []
    with session_scope() as session:
        servings = serving_service.servings_for_sync(session, actor=SYSTEM)
    # Restart-safe: a follow cut short (the platform stopped mid-way) completes here. Ended ones are left to
    # the restore below, as before.
    followed = _follow(servings, observations, restart=False)
    running = {
        sid for sid, seen in observations.items() if seen.state == follow_rules.RUNNING and not seen.stale
    }
    traffic_failed = reconcile_traffic(list(servings), running)
    for sid, why in traffic_failed.items():
        _record_error(int(sid), f"traffic not applied: {why}")
    resumed = resume_rollouts()
    if start_desired:
        for serving_id in to_restore(servings, observations):
            # One flow run each, as `mlops servings start` does: they start side by side and each records
            # its own outcome on the serving.
            launched = run_flow("serving-start", {"serving_id": serving_id}, wait=False)
            if launched.ok:
                restarted.append(serving_id)
    get_run_logger().info(
        "synced %d servings (%d stale); started again: %s; rolled forward: %s; failed: %s; traffic failed: %s; "
        "roll-outs resumed: %s",
        len(observations),
        stale,
        restarted or "none",
        followed["rolled"] or "none",
        followed["failed"] or "none",
        traffic_failed or "none",
        resumed or "none",
    )
    return {
        "count": len(observations),
        "stale": stale,
        "restarted": restarted,
        "rolled": followed["rolled"],
        "failed": followed["failed"],
        "traffic_failed": traffic_failed,
        "rollouts_resumed": resumed,
        "states": {str(k): v.state for k, v in observations.items()},
    }


def _follow(
    servings: Sequence[Serving], observations: Mapping[int, Observation], *, restart: bool
) -> dict[str, Any]:
    """Roll every serving that follows an alias to the version it names now (each failure recorded on its
    serving, the others still rolled); with ``restart``, start again those meant to run whose container ended."""
    rolled: dict[str, str] = {}
    failed: dict[str, str] = {}
    restarted: list[int] = []
    skipped: dict[str, str] = {}
    logger = get_run_logger()
    for serving in servings:
        sid = serving.id or 0
        if not follow_rules.follows_alias(serving.model_version):
            continue
        seen = observations.get(sid)
        observed = seen.state if seen is not None else "unknown"
        running = observed == follow_rules.RUNNING and seen is not None and not seen.stale
        decision = follow_rules.decide(
            desired=serving.desired_state,
            observed=observed,
            stale=seen.stale if seen is not None else True,
            ref=serving.model_version,
            target=_alias_version(serving),
            # What the server says it serves: after a restart of its container (Kubernetes restarts pods) it
            # may serve the version it was first started with, whatever the catalog recorded since.
            served=(served_version(serving) if running else None) or serving.resolved_version,
        )
        if decision.action == Action.ROLL_FORWARD:
            try:
                rolled[str(sid)] = roll_forward(sid)
                _record_error(sid, None)
            except Exception as exc:  # noqa: BLE001 - recorded on the serving; the others are still rolled
                failed[str(sid)] = f"{type(exc).__name__}: {exc}"
                _record_error(sid, f"roll-forward failed: {exc}")
                logger.warning("serving %s: roll-forward failed: %s", sid, exc)
        elif decision.action == Action.RESTART and restart:
            if run_flow("serving-start", {"serving_id": sid}, wait=False).ok:
                restarted.append(sid)
        else:
            skipped[str(sid)] = decision.reason
    return {"rolled": rolled, "failed": failed, "restarted": restarted, "skipped": skipped}


def _alias_version(serving: Serving) -> int | None:
    with session_scope() as session:
        model = session.get(Model, serving.model_id) if serving.model_id is not None else None
        return getattr(model, f"{serving.model_version}_version", None) if model is not None else None


@flow(name="serving-follow")
def serving_follow(model_id: int) -> dict[str, Any]:
    """Roll every serving of the model that follows an alias (and is meant to run) to the version the alias
    names now, without dropping a request (``tasks.serving_rollout``): forwards after a promotion, back after a
    rollback. A serving whose container ended is started again (it serves the alias's version). Fails, once
    all were tried, if any could not be rolled (each failure is on its serving's record)."""
    with session_scope() as session:
        servings = [
            s
            for s in model_service.servings_of(session, model_id=model_id)
            if follow_rules.follows_alias(s.model_version) and s.desired_state == DesiredState.RUNNING
        ]
    observations = sync_states([s.id for s in servings if s.id is not None]) if servings else {}
    result = _follow(servings, observations, restart=True)
    get_run_logger().info("model %s: rolled %s, skipped %s", model_id, result["rolled"], result["skipped"])
    if result["failed"]:
        raise RuntimeError(
            f"model {model_id}: {len(result['failed'])} serving(s) could not roll forward: "
            + "; ".join(f"serving {k}: {v}" for k, v in result["failed"].items())
        )
    return {"model_id": model_id, **result}
