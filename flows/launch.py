"""Running the platform's flows from the edges (CLI, dashboard, NATS): one function, two modes.

``deployment`` mode asks the Prefect server to run the deployment (executed by the process `mlops up`
started, visible in the Prefect UI as a deployment run); ``inline`` runs the flow in this process.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from prefect.client.orchestration import get_client
from prefect.deployments.flow_runs import arun_deployment
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

from flows.registry import deployments, get_flow
from infra.settings import get_settings

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@dataclass(frozen=True, slots=True)
class LaunchResult:
    flow_run_id: str | None
    state: str
    result: Any = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.state in ("COMPLETED", "SCHEDULED", "PENDING", "RUNNING")


def run_flow(name: str, parameters: dict[str, Any], *, wait: bool = True, mode: str | None = None) -> LaunchResult:
    settings = get_settings().prefect
    # Prefect froze its settings when it was first imported, and its settings context is per thread (the
    # dashboard runs each page in its own thread): the platform's own setting decides which server is used.
    with temporary_settings(updates={PREFECT_API_URL: settings.api_url, PREFECT_API_AUTH_STRING: settings.auth_string}):
        return _run_flow(name, parameters, wait=wait, mode=mode or settings.run_mode)


def _run_flow(name: str, parameters: dict[str, Any], *, wait: bool, mode: str) -> LaunchResult:
    settings = get_settings().prefect
    decl = deployments()[name]
    if mode == "inline":
        flow_obj = get_flow(name)
        state = flow_obj(**parameters, return_state=True)
        result = state.result(raise_on_failure=False)
        if isinstance(result, BaseException):
            return LaunchResult(flow_run_id=_state_run_id(state), state=state.type.value, message=str(result))
        return LaunchResult(flow_run_id=_state_run_id(state), state=state.type.value, result=result)
    timeout = settings.wait_timeout_seconds if wait else 0
    flow_run = asyncio.run(_run_deployment(decl.full_name, parameters, timeout))
    state = flow_run.state
    state_name = state.type.value if state else "PENDING"
    message = state.message if state and state_name in ("FAILED", "CRASHED") else None
    return LaunchResult(flow_run_id=str(flow_run.id), state=state_name, message=message)


async def _run_deployment(full_name: str, parameters: dict[str, Any], timeout: float) -> Any:
    async with get_client() as client:
        # The async function itself: ``run_deployment`` decides sync or async from the *calling* flow, so
        # inside a sync flow (reconcile-training) it returned a FlowRun that could not be awaited.
        return await arun_deployment(full_name, client=client, parameters=parameters, timeout=timeout,
                                     poll_interval=1, as_subflow=False)


def _state_run_id(state: Any) -> str | None:
    ident = getattr(getattr(state, "state_details", None), "flow_run_id", None)
    return str(ident) if ident else None


def flow_run_url(flow_run_id: str | None) -> str | None:
    if not flow_run_id:
        return None
    return f"{get_settings().prefect.ui_url}/runs/flow-run/{flow_run_id}"
