"""Launching the platform's flows through the API and following them: what a launch answers, and the
progress of the work (the flow run's state beside the row's status) a client polls until it is decided
(the decision rules are ``flows.outcomes``, run by the CLI on these answers)."""

from __future__ import annotations

from pydantic import Field

from mlops_lite.schemas.common import Row


class Launch(Row):
    flow_run_id: str | None = Field(description="The Prefect flow run doing the work.")
    state: str = Field(description="The flow run's state when the launch answered (SCHEDULED, PENDING, ...).")
    message: str | None = None
    flow_run_url: str | None = Field(default=None, description="The run in the Prefect UI.")


class Progress(Row):
    """One look at launched work: the flow run (``flow_state`` None: Prefect does not know it) and the row
    it works on (``status`` None: the row is gone)."""

    flow_state: str | None
    flow_message: str | None = None
    status: str | None
    row_flow_run_id: str | None = Field(default=None, description="The flow run that claimed the row.")
    error: str | None = None
