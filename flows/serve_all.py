"""One process serving every deployment of prefect.yaml (started by `mlops up`).

Registers the deployments with the Prefect API (schedules from prefect.yaml, intervals overridable with
``MLOPS_PREFECT_SCHEDULE_OVERRIDES``), closes the flow runs an earlier runner left behind (it is gone: a run
it was executing can never finish), starts one run of each long-running deployment (tagged ``long-running``
in prefect.yaml, e.g. the NATS responder) and one run of each scheduled reconciler at once (so a restart
is reconciled now, not one interval later: ``reconcile-training`` also records the model versions the catalog
lacks and mirrors the models' aliases into MLflow, ``flows.models``), writes a readiness file (``MLOPS_DEPLOYMENTS_READY_FILE``)
once all that is done, then executes flow runs as they are requested.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from infra.settings.bridge import export_library_env

export_library_env()

from prefect.client.schemas.objects import ConcurrencyLimitConfig
from prefect.runner import Runner

from flows.datasets import reconcile_releases_at_startup
from flows.registry import DeploymentDecl, deployments
from infra.settings import get_settings

LONG_RUNNING_TAG = "long-running"
SCHEDULED_TAG = "scheduled"


def intervals(decl: DeploymentDecl) -> list[timedelta] | None:
    """The deployment's schedule: prefect.yaml's intervals, or the one MLOPS_PREFECT_SCHEDULE_OVERRIDES gives."""
    override = get_settings().prefect.schedule_overrides.get(decl.name)
    seconds = (override,) if override is not None else decl.intervals
    return [timedelta(seconds=s) for s in seconds] or None


def build_runner() -> Runner:
    settings = get_settings()
    runner = Runner(name="mlops-lite", query_seconds=settings.prefect.poll_seconds, limit=None)
    for decl in deployments().values():
        flow_obj = decl.load_flow()
        deployment = flow_obj.to_deployment(
            name=decl.name,
            description=decl.description or None,
            tags=list(decl.tags),
            interval=intervals(decl),
            parameters=decl.parameters or None,
            concurrency_limit=ConcurrencyLimitConfig(**decl.concurrency) if decl.concurrency else None,
        )
        runner.add_deployment(deployment)
    return runner


def close_leftovers() -> int:
    """Close every run an earlier runner of these deployments left open; returns how many were closed.

    This process is the only runner of the embedded platform, so a run still pending or running belongs to
    a runner that stopped (its process is gone, and the run with it): it is marked Crashed. A scheduled run
    of a long-running deployment is cancelled (``start_long_running`` starts a fresh one), and so is a
    reconciler's run that is already due (``start_reconcilers`` starts one now, with the parameters of a
    restart: at one run at a time, prefect.yaml's ``concurrency_limit``, a due slot would take its place);
    other scheduled runs — requests made while the platform was down, future schedule slots — are left
    for this runner.
    What the crashed runs were doing is picked up by the reconcilers (``start_reconcilers``).
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Cancelled, Crashed

    closed = 0
    message = "left behind by a previous deployment server, which stopped while it ran"
    superseded = "superseded by the run the deployment server starts at once (flows/serve_all.py)"
    now = datetime.now(UTC)
    with get_client(sync_client=True) as client:
        for decl in deployments().values():
            long_running = LONG_RUNNING_TAG in decl.tags
            reconciler = SCHEDULED_TAG in decl.tags
            live = [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING] + (
                [StateType.SCHEDULED] if long_running or reconciler else []
            )
            deployment = client.read_deployment_by_name(decl.full_name)
            leftovers = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=live))
                ),
            )
            for run in leftovers:
                due = run.expected_start_time is None or run.expected_start_time <= now
                if run.state_type == StateType.SCHEDULED and reconciler and not long_running and not due:
                    continue  # a future slot of the schedule: this runner takes it when it comes
                if run.state_type == StateType.SCHEDULED and reconciler:
                    state = Cancelled(message=superseded)
                elif run.state_type in (StateType.SCHEDULED, StateType.CANCELLING):
                    state = Cancelled(message=message)
                else:
                    state = Crashed(message=message)
                client.set_flow_run_state(run.id, state, force=True)
                closed += 1
    return closed


def _start(tag: str, parameters: dict[str, Any] | None = None) -> list[str]:
    from prefect.client.orchestration import get_client

    started: list[str] = []
    with get_client(sync_client=True) as client:
        for decl in deployments().values():
            if tag in decl.tags:
                deployment = client.read_deployment_by_name(decl.full_name)
                run = client.create_flow_run_from_deployment(
                    deployment.id, tags=[tag], parameters=(parameters or {}).get(decl.name)
                )
                started.append(str(run.id))
    return started


def start_long_running() -> list[str]:
    """Start one run of every long-running deployment; returns the flow run ids."""
    return _start(LONG_RUNNING_TAG)


def start_reconcilers() -> list[str]:
    """One run of every scheduled reconciler now. The training reconciler re-watches every running job at
    once: whatever watched them ran in the runner that just stopped; the serving sync starts again every
    serving meant to run whose container stopped with the platform."""
    return _start(
        SCHEDULED_TAG,
        {"reconcile-training": {"stale_after_seconds": 0}, "sync-servings": {"start_desired": True}},
    )


def main() -> None:
    runner = build_runner()
    close_leftovers()
    start_long_running()
    reconcile_releases_at_startup()  # its flow runs were closed just above
    # The models' reconciliation (versions the catalog lacks, MLflow aliases) runs in the reconcile-training run
    # started below, not here: its MLflow calls must not hold the runner back from the flow runs users start.
    start_reconcilers()
    ready = os.environ.get("MLOPS_DEPLOYMENTS_READY_FILE")
    if ready:
        Path(ready).parent.mkdir(parents=True, exist_ok=True)
        Path(ready).write_text(str(os.getpid()))
    try:
        asyncio.run(runner.start())
    finally:
        if ready:
            Path(ready).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
