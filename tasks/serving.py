"""Serving tasks: resolve the model version from the catalog, launch or adopt the inference container, observe
states in batches. Rolling a running serving forward to another version: ``tasks.serving_rollout``.

A serving's reference ('latest', a number, an alias) resolves in the catalog (``models.resolve_ref``) to
``models:/<registered model>/<N>``; the container is told the version (``--model-version``), so every answer
names it, and gets two tokens: the serving's (its callers') and the platform's control token.
Observed state is only ever written from what the runtime reports (``sync_states``); when the runtime
cannot be reached, the stored state is kept and marked stale with the error, so pages still render.
The inference URL is built per runtime at request time (``inference_url``) and never stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import httpx
from prefect import task

from catalog.db import session_scope
from catalog.errors import NotFoundError, ValidationError
from catalog.model_gate import LATEST
from catalog.models import Model, Serving
from catalog.scoping import SYSTEM
from catalog.services import models as model_service
from catalog.services import serving as serving_service
from catalog.services.serving import Observation
from infra.net import http_ok, wait_until
from infra.runtime.base import ContainerRuntime, ContainerState, ContainerStatus, RuntimeError_
from infra.runtime.ports import allocate_port
from infra.runtime.registry import get_runtime
from tasks.containers import serving_spec
from tasks.models import record_model_versions

READY_TIMEOUT_SECONDS = 180.0
# The label the launch writes, so an adopted container tells which model version it serves.
VERSION_LABEL = "model-version"


def _load(serving_id: int) -> Serving:
    with session_scope() as session:
        return serving_service.get_serving(session, actor=SYSTEM, serving_id=serving_id)


def _resolve_now(serving: Serving) -> tuple[str, str]:
    with session_scope() as session:
        model = session.get(Model, serving.model_id) if serving.model_id is not None else None
        if model is None:
            raise LookupError(f"serving {serving.id}: model {serving.model_id} not found")
        row = model_service.resolve_ref(session, model=model, ref=serving.model_version)
        return f"models:/{model.mlflow_name}/{row.version}", str(row.version)


def resolve_target(serving: Serving, *, refresh: bool = False) -> tuple[str, str]:
    """(``models:/<registered model>/<N>``, N): the version the serving's reference names in the catalog now.

    'latest', and a reference the catalog cannot resolve yet, are resolved again after recording the versions
    the model's jobs' runs registered (``refresh``: always): a run that just ended may not be recorded yet."""
    if not refresh and serving.model_version != LATEST:
        try:
            return _resolve_now(serving)
        except (NotFoundError, ValidationError):
            pass
    if serving.model_id is not None:
        record_model_versions(serving.model_id)
    return _resolve_now(serving)


def health_url(serving: Serving) -> str:
    return inference_url(serving).removesuffix("/predict") + "/health"


def server_health(serving: Serving, timeout: float = 5.0) -> dict[str, Any] | None:
    """The running server's /health (what it serves, what it loads, its last load error); None when it does
    not answer."""
    try:
        response = httpx.get(health_url(serving), timeout=timeout, trust_env=False)
    except (httpx.HTTPError, RuntimeError_):
        return None
    if response.status_code != 200:
        return None
    body = response.json()
    return body if isinstance(body, dict) else None


def _name(serving: Serving) -> str:
    return serving.container_name or serving_service.container_name_for(serving.id or 0)


def observe(statuses: dict[str, ContainerStatus], servings: Sequence[Serving]) -> dict[int, Observation]:
    out: dict[int, Observation] = {}
    for s in servings:
        st = statuses.get(_name(s))
        if st is not None and s.id is not None:
            out[s.id] = Observation(state=st.state.value, port=st.port, detail=st.detail)
    return out


def observe_now(serving_ids: Sequence[int] | None = None) -> dict[int, Observation]:
    """Ask the runtime about many servings in one call and write what it says back (stale on failure).

    Plain function (no Prefect task run) for the edges, whose list and detail reads call it on every render.
    """
    with session_scope() as session:
        servings = serving_service.servings_for_sync(session, actor=SYSTEM, serving_ids=serving_ids)
    if not servings:
        return {}
    try:
        observations = observe(get_runtime().status([_name(s) for s in servings]), servings)
    except RuntimeError_ as exc:
        observations = {
            s.id: Observation(state=s.observed_state, stale=True, detail=f"runtime unreachable: {exc}")
            for s in servings
            if s.id is not None
        }
    with session_scope() as session:
        serving_service.record_observed(session, observations=observations)
    return observations


@task(name="sync-serving-states")
def sync_states(serving_ids: Sequence[int] | None = None) -> dict[int, Observation]:
    """``observe_now`` as a task of the lifecycle flows and of the scheduled ``sync-servings`` flow."""
    return observe_now(serving_ids)


@task(name="launch-serving-container")
def launch(serving_id: int) -> ContainerStatus:
    """Start the serving's container, or adopt one of that name that is already alive."""
    serving = _load(serving_id)
    runtime = get_runtime()
    name = _name(serving)
    current = runtime.status([name])[name]
    if current.is_alive:
        # Adopted (a re-run flow, or a platform restart): record what it serves, never start a second one. The
        # server says (a roll-forward changed it since the launch); the label is what it was started with.
        health = server_health(serving)
        adopted = (health or {}).get("model_version") or current.labels.get(VERSION_LABEL)
        if adopted:
            with session_scope() as session:
                serving_service.record_resolved_version(session, serving_id=serving_id, version=str(adopted))
        return current
    if current.state != ContainerState.NOT_FOUND:
        runtime.remove(name, force=True)  # an exited one keeps the name taken
    # Resolved here, at start, so the record says which version actually runs.
    model_uri, version = resolve_target(serving)
    port = serving.port
    if port is None:
        # Never a port another serving record asked for (its owner gets it back on start), even if free now.
        with session_scope() as session:
            reserved = serving_service.reserved_ports(session, except_serving=serving_id)
        port = allocate_port(exclude=reserved)
    spec = serving_spec(
        serving_id=serving_id,
        team_id=serving.team_id,
        scenario=serving.scenario,
        model_uri=model_uri,
        model_version=version,
        port=port,
        token=serving_service.inference_token(serving),
        control_token=serving_service.control_token(serving),
        # What it claimed when it was meant to run (its own limits, else the runtime's, else a quota default).
        cpu_limit=serving.claimed_cpu if serving.claimed_cpu is not None else serving.cpu_limit,
        memory_limit_mb=(
            serving.claimed_memory_mb if serving.claimed_memory_mb is not None else serving.memory_limit_mb
        ),
        log_rate=serving.log_rate,
        log_per_minute=serving.log_per_minute,
    )
    spec = replace(spec, labels={**spec.labels, VERSION_LABEL: version})
    status = runtime.start(spec)
    with session_scope() as session:
        serving_service.record_resolved_version(session, serving_id=serving_id, version=version)
    return status


def ready_url(runtime: ContainerRuntime, name: str, port: int | None) -> str:
    return runtime.inference_url(name, port).removesuffix("/predict") + "/ready"


@task(name="wait-serving-ready")
def wait_ready(serving_id: int, timeout: float = READY_TIMEOUT_SECONDS) -> str:
    """Poll /ready until the model is loaded; fail early (with the container's log) if it dies."""
    serving = _load(serving_id)
    runtime = get_runtime()
    name = _name(serving)

    def ready() -> bool:
        st = runtime.status([name])[name]
        if not st.is_alive:
            logs = runtime.logs(name, tail=30)
            raise RuntimeError(f"inference container {st.state.value} (exit code {st.exit_code}):\n{logs}")
        return http_ok(ready_url(runtime, name, st.port))

    wait_until(ready, timeout=timeout, interval=0.25, description=f"serving {serving_id} ready")
    return inference_url(serving)


@task(name="stop-serving-container")
def stop_container(serving_id: int) -> None:
    """Graceful: SIGTERM and the runtime's stop timeout, then delete the container (frees its port)."""
    serving = _load(serving_id)
    runtime = get_runtime()
    runtime.stop(_name(serving))
    runtime.remove(_name(serving), force=True)
    _require_gone(runtime, _name(serving))


@task(name="remove-serving-container")
def remove_container(serving_id: int) -> None:
    """Force-delete the container, running or not; raises unless the runtime then reports it gone."""
    serving = _load(serving_id)
    runtime = get_runtime()
    runtime.remove(_name(serving), force=True)
    _require_gone(runtime, _name(serving))


def _require_gone(runtime: ContainerRuntime, name: str) -> None:
    # Trust the runtime's answer, not the absence of an exception: the record may only go once it is gone.
    state = runtime.status([name])[name].state
    if state != ContainerState.NOT_FOUND:
        raise RuntimeError_(f"container {name!r} is still {state.value} after removal")


def model_ready_url(serving: Serving) -> str:
    """The serving's ``/ready``, found like ``inference_url``."""
    return ready_url(get_runtime(), _name(serving), None)


def inference_url(serving: Serving) -> str:
    """Built per runtime at request time, never stored: each runtime knows how its servers are reached.

    No port is passed: runtimes that reach a server by host port (process, docker on the host network) look
    the live one up, because a stored or observed port may predate a restart on another port; the others
    (docker user network, kubernetes) ignore it.
    """
    return get_runtime().inference_url(_name(serving), None)
