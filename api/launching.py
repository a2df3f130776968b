"""Launching flows for a request and reporting their progress, as the dashboard and the CLI launch them
(``flows.launch``). A flow run is only reported to a caller through a row they can see, and only when the
run's parameters name that row: a flow run id alone gives nothing away."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.errors import ApiError
from flows.launch import PrefectUnreachable, flow_run_url, read_flow_run, run_flow
from mlops_lite.schemas.runs import Launch, Progress


def launch(flow: str, parameters: dict[str, Any]) -> Launch:
    """Start ``flow`` (without waiting for it); 503 when Prefect does not answer."""
    try:
        launched = run_flow(flow, parameters, wait=False)
    except PrefectUnreachable as exc:
        raise ApiError(503, str(exc), "unavailable") from None
    return Launch(
        flow_run_id=launched.flow_run_id,
        state=launched.state,
        message=launched.message,
        flow_run_url=flow_run_url(launched.flow_run_id),
    )


RowView = tuple[str | None, str | None, str | None]  # the row's status, the flow run holding it, its error


def progress(flow_run_id: str, *, expect: dict[str, Any], read_row: Callable[[], RowView]) -> Progress:
    """The flow run's state beside the row's (the caller has checked the row through scoping already).
    404 unless the run's parameters include ``expect`` (e.g. ``{"job_id": 7}``). The row is read *after* the
    flow run: a run seen ended has written its row by then, so the two answers agree (read before, work ending
    in between would show a COMPLETED run beside a row still at work)."""
    try:
        view = read_flow_run(flow_run_id)
    except PrefectUnreachable as exc:
        raise ApiError(503, str(exc), "unavailable") from None
    except ValueError:
        raise ApiError(404, f"flow run {flow_run_id[:40]!r} not found") from None
    if view.state is not None and any((view.parameters or {}).get(k) != v for k, v in expect.items()):
        raise ApiError(404, f"flow run {flow_run_id[:40]!r} not found")
    status, row_flow_run_id, error = read_row()
    return Progress(
        flow_state=view.state,
        flow_message=view.message,
        status=status,
        row_flow_run_id=row_flow_run_id,
        error=error,
    )
