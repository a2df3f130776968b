"""Flow runs a test launched but must not run: cancelled, so no runner of a later test (sharing the session's
Prefect server) picks them up and acts on ids of this test's catalog."""

from __future__ import annotations

import uuid


def cancel_flow_run(flow_run_id: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled

    from flows.launch import prefect_context

    with prefect_context(), get_client(sync_client=True) as client:
        client.set_flow_run_state(uuid.UUID(flow_run_id), Cancelled(message="test over"), force=True)
        assert client.read_flow_run(uuid.UUID(flow_run_id)).state_type.value == "CANCELLED"
