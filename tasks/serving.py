"""Serving tasks: resolve the model, launch or adopt the inference container, observe states in batches."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
from prefect import task

from catalog.db import session_scope
from catalog.models import Serving, TrainJob
from catalog.services import serving as serving_service
from catalog.services.serving import Observation
from infra import tracking
from infra.net import wait_until
from infra.runtime.base import ContainerState, ContainerStatus, RuntimeError_
from infra.runtime.ports import allocate_port
from infra.runtime.registry import get_runtime
from infra.settings import get_settings
from tasks.containers import serving_spec

READY_TIMEOUT_SECONDS = 180.0


def _load(serving_id: int) -> tuple[Serving, TrainJob]:
    with session_scope() as session:
        serving = session.get(Serving, serving_id)
        if serving is None:
            raise LookupError(f"serving {serving_id} not found")
        job = session.get(TrainJob, serving.train_job_id)
        assert job is not None
        return serving, job


def observe(statuses: dict[str, ContainerStatus], servings: Sequence[Serving]) -> dict[int, Observation]:
    out: dict[int, Observation] = {}
    for s in servings:
        st = statuses.get(s.container_name or "")
        if st is not None and s.id is not None:
            out[s.id] = Observation(state=st.state.value, port=st.port, detail=st.detail)
    return out


@task(name="sync-serving-states")
def sync_states(serving_ids: Sequence[int] | None = None) -> dict[int, Observation]:
    """Ask the runtime about many servings in one call and write what it says back (stale on failure)."""
    from sqlmodel import select

    with session_scope() as session:
        stmt = select(Serving)
        if serving_ids is not None:
            stmt = stmt.where(Serving.id.in_(list(serving_ids)))  # type: ignore[union-attr]
        servings = list(session.exec(stmt).all())
    names = [s.container_name for s in servings if s.container_name]
    try:
        observations = observe(get_runtime().status(names), servings)
    except RuntimeError_ as exc:
        observations = {s.id: Observation(state=s.observed_state, stale=True, detail=f"runtime unreachable: {exc}")
                        for s in servings if s.id is not None}
    with session_scope() as session:
        serving_service.record_observed(session, observations=observations)
    return observations


@task(name="launch-serving-container")
def launch(serving_id: int) -> ContainerStatus:
    """Start the serving's container, or adopt one of that name that already runs."""
    serving, job = _load(serving_id)
    runtime = get_runtime()
    name = serving.container_name or serving_service.container_name_for(serving_id)
    current = runtime.status([name])[name]
    if current.is_alive:
        return current
    if current.state != ContainerState.NOT_FOUND:
        runtime.remove(name, force=True)
    mlflow = tracking.client()
    model_uri, version = tracking.resolve_model_uri(mlflow, job.model_name or "", serving.model_version)
    port = serving.port or allocate_port()
    spec = serving_spec(serving_id=serving_id, team_id=serving.team_id, scenario=serving.scenario,
                        model_uri=model_uri, port=port)
    status = runtime.start(spec)
    with session_scope() as session:
        serving_service.record_resolved_version(session, serving_id=serving_id, version=version)
    return status


@task(name="wait-serving-ready")
def wait_ready(serving_id: int, timeout: float = READY_TIMEOUT_SECONDS) -> str:
    """Poll /ready until the model is loaded; fail early if the container dies."""
    serving, _ = _load(serving_id)
    runtime = get_runtime()
    name = serving.container_name or ""

    def ready() -> bool:
        st = runtime.status([name])[name]
        if not st.is_alive:
            logs = runtime.logs(name, tail=30)
            raise RuntimeError(f"inference container {st.state.value} (exit code {st.exit_code}):\n{logs}")
        url = runtime.inference_url(name, st.port).removesuffix("/predict") + "/ready"
        try:
            return httpx.get(url, timeout=2.0, trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, timeout=timeout, interval=0.25, description=f"serving {serving_id} ready")
    st = runtime.status([name])[name]
    return runtime.inference_url(name, st.port)


@task(name="remove-serving-container")
def remove_container(serving_id: int) -> None:
    serving, _ = _load(serving_id)
    if serving.container_name:
        get_runtime().remove(serving.container_name, force=True)


def inference_url(serving: Serving) -> str:
    """Built per runtime at request time, never stored."""
    runtime = get_runtime()
    port = serving.observed_port or serving.port
    if get_settings().runtime.name == "process":
        name = serving.container_name or ""
        port = runtime.status([name])[name].port or port
    return runtime.inference_url(serving.container_name or "", port)
