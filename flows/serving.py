"""Serving flows: start (create launches, an existing container is adopted), stop, remove, delete record,
restart (applies an update), and the scheduled state sync. Every flow is safe to re-run: desired state is
written first, then the runtime is driven towards it, then the observed state is read back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prefect import flow, get_run_logger

from catalog.db import session_scope
from catalog.models import DesiredState, Serving
from catalog.scoping import SYSTEM
from catalog.services import serving as serving_service
from catalog.services.serving import Observation
from flows.launch import run_flow
from infra.runtime.base import ContainerState
from tasks.serving import launch, remove_container, stop_container, sync_states, wait_ready


def _set_desired(serving_id: int, desired: DesiredState) -> None:
    with session_scope() as session:
        serving_service.set_desired(session, actor=SYSTEM, serving_id=serving_id, desired=desired)


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


# A container in one of these states is gone for good: starting the serving again is the only way back.
ENDED = frozenset({ContainerState.FAILED.value, ContainerState.EXITED.value, ContainerState.NOT_FOUND.value})


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
    if start_desired:
        with session_scope() as session:
            servings = serving_service.servings_for_sync(session, actor=SYSTEM)
        for serving_id in to_restore(servings, observations):
            # One flow run each, as `mlops servings start` does: they start side by side and each records
            # its own outcome on the serving.
            launched = run_flow("serving-start", {"serving_id": serving_id}, wait=False)
            if launched.ok:
                restarted.append(serving_id)
    get_run_logger().info(
        "synced %d servings (%d stale); started again: %s", len(observations), stale, restarted or "none"
    )
    return {
        "count": len(observations),
        "stale": stale,
        "restarted": restarted,
        "states": {str(k): v.state for k, v in observations.items()},
    }
