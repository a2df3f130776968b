"""Serving flows: create/start, stop, remove, delete record, update, and the scheduled state sync."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from catalog.db import session_scope
from catalog.models import DesiredState, Serving
from catalog.scoping import SYSTEM
from catalog.services import serving as serving_service
from tasks.serving import launch, remove_container, sync_states, wait_ready


def _set_desired(serving_id: int, desired: DesiredState) -> None:
    with session_scope() as session:
        serving_service.set_desired(session, actor=SYSTEM, serving_id=serving_id, desired=desired)


@flow(name="serving-start")
def serving_start(serving_id: int, wait: bool = True) -> dict[str, Any]:
    """Launch (or adopt) the serving's inference container and wait until its model is loaded."""
    _set_desired(serving_id, DesiredState.RUNNING)
    try:
        status = launch(serving_id)
        url = wait_ready(serving_id) if wait else None
    except Exception as exc:
        with session_scope() as session:
            serving = session.get(Serving, serving_id)
            if serving is not None:
                serving.error = str(exc)[:4000]
                session.add(serving)
        sync_states([serving_id])
        raise
    with session_scope() as session:
        serving = session.get(Serving, serving_id)
        if serving is not None:
            serving.error = None
            session.add(serving)
    sync_states([serving_id])
    return {"serving_id": serving_id, "state": status.state.value, "port": status.port, "url": url}


@flow(name="serving-stop")
def serving_stop(serving_id: int) -> dict[str, Any]:
    """Stop and delete the container, keep the record, free the port."""
    _set_desired(serving_id, DesiredState.STOPPED)
    remove_container(serving_id)
    sync_states([serving_id])
    return {"serving_id": serving_id, "desired_state": DesiredState.STOPPED.value}


@flow(name="serving-remove")
def serving_remove(serving_id: int) -> dict[str, Any]:
    """Force-delete the container even while it runs (the record stays)."""
    _set_desired(serving_id, DesiredState.STOPPED)
    remove_container(serving_id)
    sync_states([serving_id])
    return {"serving_id": serving_id, "removed": True}


@flow(name="serving-delete")
def serving_delete(serving_id: int) -> dict[str, Any]:
    """Delete the container first; the record goes only if that succeeded (never a zombie container)."""
    remove_container(serving_id)
    with session_scope() as session:
        serving_service.delete_record(session, actor=SYSTEM, serving_id=serving_id)
    return {"serving_id": serving_id, "deleted": True}


@flow(name="serving-restart")
def serving_restart(serving_id: int) -> dict[str, Any]:
    """Apply a change of model version, train job or port to a running serving."""
    remove_container(serving_id)
    return serving_start(serving_id)


@flow(name="sync-servings")
def sync_servings() -> dict[str, Any]:
    """Scheduled every minute: write every serving's observed state from one batched runtime call."""
    observations = sync_states(None)
    stale = sum(1 for o in observations.values() if o.stale)
    get_run_logger().info("synced %d servings (%d stale)", len(observations), stale)
    return {"count": len(observations), "stale": stale}
