"""One process serving every deployment of prefect.yaml (started by `mlops up`).

Registers the deployments with the Prefect API, starts one run of each long-running deployment (tagged
``long-running`` in prefect.yaml, e.g. the NATS responder), writes a readiness file
(``MLOPS_DEPLOYMENTS_READY_FILE``) once all that is done, then executes flow runs as they are requested.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

from infra.settings.bridge import export_library_env

export_library_env()

from prefect.runner import Runner

from flows.datasets import reconcile_releases_at_startup
from flows.registry import deployments
from infra.settings import get_settings

LONG_RUNNING_TAG = "long-running"


def build_runner() -> Runner:
    settings = get_settings()
    runner = Runner(name="mlops-lite", query_seconds=settings.prefect.poll_seconds, limit=None)
    for decl in deployments().values():
        flow_obj = decl.load_flow()
        deployment = flow_obj.to_deployment(
            name=decl.name,
            description=decl.description or None,
            tags=list(decl.tags),
            interval=[timedelta(seconds=s) for s in decl.intervals] or None,
            parameters=decl.parameters or None,
        )
        runner.add_deployment(deployment)
    return runner


def start_long_running() -> list[str]:
    """Start one run of every long-running deployment; returns the flow run ids.

    This process is the only runner of the embedded platform, so a run of such a deployment still marked
    scheduled, pending or running was left behind by an earlier runner that stopped (its process is gone):
    it is closed first, so exactly one run is live after every start and none is ever picked up twice.
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

    started: list[str] = []
    live = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING]
    with get_client(sync_client=True) as client:
        for decl in deployments().values():
            if LONG_RUNNING_TAG not in decl.tags:
                continue
            deployment = client.read_deployment_by_name(decl.full_name)
            leftovers = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=live))),
            )
            for run in leftovers:
                message = "left behind by a previous deployment server; replaced by a new run"
                state = Cancelled(message=message) if run.state_type == StateType.SCHEDULED else \
                    Crashed(message=message)
                client.set_flow_run_state(run.id, state, force=True)
            run = client.create_flow_run_from_deployment(deployment.id, tags=[LONG_RUNNING_TAG])
            started.append(str(run.id))
    return started


def main() -> None:
    runner = build_runner()
    start_long_running()
    reconcile_releases_at_startup()
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
