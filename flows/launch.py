"""Running the platform's flows from the edges (CLI, dashboard, NATS): one function, two modes, and reading a
launched flow run's state back.

``deployment`` mode asks the Prefect server to run the deployment (executed by the process `mlops up`
started, visible in the Prefect UI as a deployment run); ``inline`` runs the flow in this process. Both need
the Prefect server: it is asked for its health first (a few seconds at most), so a platform that is down is
one clear ``PrefectUnreachable`` at once rather than a launch that hangs or fails with a transport error.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from prefect.client.orchestration import get_client
from prefect.deployments.flow_runs import arun_deployment
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

from flows.registry import deployments, get_flow
from infra.settings import get_settings

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


class PrefectUnreachable(RuntimeError):
    """The Prefect server did not answer: nothing was launched, or a launched run can no longer be followed."""


@dataclass(frozen=True, slots=True)
class LaunchResult:
    flow_run_id: str | None
    state: str
    result: Any = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.state in ("COMPLETED", "SCHEDULED", "PENDING", "RUNNING")


@dataclass(frozen=True, slots=True)
class FlowRunView:
    """A flow run's state as Prefect reports it now (``state`` None: Prefect does not know the run)."""

    state: str | None
    message: str | None = None
    parameters: dict[str, Any] | None = None


def prefect_context() -> Any:
    """Prefect's settings pointed at the platform's server, with its auth string.

    Prefect froze its settings when it was first imported, and its settings context is per thread (the
    dashboard runs each page in its own thread): the platform's own settings decide which server is used.
    """
    settings = get_settings().prefect
    return temporary_settings(
        updates={PREFECT_API_URL: settings.api_url, PREFECT_API_AUTH_STRING: settings.auth_string}
    )


def run_flow(
    name: str, parameters: dict[str, Any], *, wait: bool = True, mode: str | None = None
) -> LaunchResult:
    settings = get_settings().prefect
    with prefect_context():
        _check_reachable()
        return _run_flow(name, parameters, wait=wait, mode=mode or settings.run_mode)


def check_reachable() -> None:
    """Raise ``PrefectUnreachable`` unless the platform's Prefect server answers its health check."""
    with prefect_context():
        _check_reachable()


def _check_reachable() -> None:
    settings = get_settings().prefect
    # Through Prefect's own client: it carries whatever authentication the server is configured with.
    with get_client(httpx_settings={"timeout": settings.connect_timeout_seconds}, sync_client=True) as client:
        problem = client.api_healthcheck()
    if problem is not None:
        raise PrefectUnreachable(unreachable_message(settings.api_url, problem))


def unreachable_message(api_url: str, exc: BaseException) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        why = f"it answered HTTP {exc.response.status_code}"
    else:
        why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return f"the Prefect server at {api_url} is unreachable ({why}); is the platform running (`mlops up`)?"


def read_flow_run(flow_run_id: str) -> FlowRunView:
    """The flow run's current state type and message; ``PrefectUnreachable`` when the server does not answer."""
    settings = get_settings().prefect
    with prefect_context():
        try:
            with get_client(
                httpx_settings={"timeout": settings.connect_timeout_seconds}, sync_client=True
            ) as client:
                run = client.read_flow_run(uuid.UUID(flow_run_id))
        except ObjectNotFound:
            return FlowRunView(state=None)
        except httpx.TransportError as exc:
            raise PrefectUnreachable(unreachable_message(settings.api_url, exc)) from None
    state = run.state
    return FlowRunView(
        state=state.type.value if state else "PENDING",
        message=state.message if state else None,
        parameters=dict(run.parameters or {}),
    )


def _run_flow(name: str, parameters: dict[str, Any], *, wait: bool, mode: str) -> LaunchResult:
    settings = get_settings().prefect
    decl = deployments()[name]
    if mode == "inline":
        flow_obj = get_flow(name)
        state = flow_obj(**parameters, return_state=True)
        result = state.result(raise_on_failure=False)
        if isinstance(result, BaseException):
            # Named like Prefect names it in a deployment run's state ("ConflictError: ..."): the outcome
            # (flows.outcomes) reads the kind of failure from it, whichever the mode.
            message = f"{type(result).__name__}: {result}"
            return LaunchResult(flow_run_id=_state_run_id(state), state=state.type.value, message=message)
        return LaunchResult(flow_run_id=_state_run_id(state), state=state.type.value, result=result)
    timeout = settings.wait_timeout_seconds if wait else 0
    try:
        flow_run = asyncio.run(_run_deployment(decl.full_name, parameters, timeout))
    except httpx.TransportError as exc:
        raise PrefectUnreachable(unreachable_message(settings.api_url, exc)) from None
    except ObjectNotFound:
        # The flow runner registers the deployments when it starts: none yet means no runner ever ran here.
        raise PrefectUnreachable(
            f"deployment {decl.full_name!r} is not registered on the Prefect server at {settings.api_url}; "
            "is the platform's flow runner running (`mlops up`)?"
        ) from None
    state = flow_run.state
    state_name = state.type.value if state else "PENDING"
    message = state.message if state and state_name in ("FAILED", "CRASHED") else None
    return LaunchResult(flow_run_id=str(flow_run.id), state=state_name, message=message)


async def _run_deployment(full_name: str, parameters: dict[str, Any], timeout: float) -> Any:
    async with get_client() as client:
        # The async function itself: ``run_deployment`` decides sync or async from the *calling* flow, so
        # inside a sync flow (reconcile-training) it returned a FlowRun that could not be awaited.
        return await arun_deployment(
            full_name,
            client=client,
            parameters=parameters,
            timeout=timeout,
            poll_interval=1,
            as_subflow=False,
        )


def _state_run_id(state: Any) -> str | None:
    ident = getattr(getattr(state, "state_details", None), "flow_run_id", None)
    return str(ident) if ident else None


def flow_run_url(flow_run_id: str | None) -> str | None:
    if not flow_run_id:
        return None
    return f"{get_settings().prefect.ui_url}/runs/flow-run/{flow_run_id}"
