"""Scheduled deployments run from their schedules: the Prefect server's scheduler (embedded, as `mlops up`
starts it) creates the runs and the deployment server executes them to completion, one at a time.

With Prefect 3.8 and SQLAlchemy 2.1 the scheduler failed on every loop ("Can't evaluate bulk DML
statement") and no scheduled run was ever created; the pins in requirements/lock.txt avoid that pair.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest

from infra.net import wait_until
from tests.fixtures.runner import FlowRunner

pytestmark = [pytest.mark.slow, pytest.mark.platform_servers("prefect")]


def _runs_of(deployment_name: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    async def read() -> list[Any]:
        async with get_client() as client:
            return list(
                await client.read_flow_runs(
                    deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment_name]))
                )
            )

    return asyncio.run(read())


FINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


def _ask_at_once(deployment_name: str, count: int) -> set[str]:
    """``count`` runs of the deployment requested together, as people (or a restart) may; their ids."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    with get_client(sync_client=True) as client:
        (deployment,) = client.read_deployments(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment_name]))
        )
        return {str(client.create_flow_run_from_deployment(deployment.id).id) for _ in range(count)}


def test_a_schedule_produces_completed_runs(flow_runner: FlowRunner) -> None:
    from catalog.services.init import initialize

    initialize(admin_password="schedule-pass", echo=lambda *a, **k: None)
    # Each run is a new Python process of the runner (seconds of CPU here): a few seconds apart would pile up.
    overrides = json.dumps({"reconcile-training": 10, "sync-servings": 10})
    flow_runner.start(MLOPS_PREFECT_SCHEDULE_OVERRIDES=overrides, PREFECT_RUNNER_POLL_FREQUENCY="1")
    proc = flow_runner.proc
    assert proc is not None

    def scheduled_and_completed(name: str) -> bool:
        # auto_scheduled: created by the server's scheduler, not by the runner's start-up run or a person.
        return any(
            r.auto_scheduled and r.state_type and r.state_type.value == "COMPLETED" for r in _runs_of(name)
        )

    for name in ("reconcile-training", "sync-servings"):
        try:
            wait_until(
                lambda n=name: scheduled_and_completed(n) or proc.poll() is not None,  # type: ignore[misc]
                timeout=180,
                interval=1.0,
                description=f"a scheduled {name} run completed",
            )
        except TimeoutError:
            runs = [(r.name, r.auto_scheduled, r.state_type, r.expected_start_time) for r in _runs_of(name)]
            raise AssertionError(f"{runs}\n{flow_runner.log()}") from None
        assert proc.poll() is None, flow_runner.log()

    # One run of a reconciler at a time (prefect.yaml's concurrency_limit): runs asked for while one works are
    # cancelled rather than started beside it, so a slow dependency never piles up processes.
    asked = _ask_at_once("sync-servings", 3)
    wait_until(
        lambda: all(r.state_type.value in FINAL for r in _runs_of("sync-servings") if str(r.id) in asked),
        timeout=180,
        interval=1.0,
        description="the three requested sync-servings runs ended",
    )
    ended = {str(r.id): r for r in _runs_of("sync-servings") if str(r.id) in asked}
    outcomes = sorted(r.state_type.value for r in ended.values())
    # Asked together, they overlap: one may take the slot (none, when a scheduled run holds it), the others
    # are refused.
    assert outcomes.count("CANCELLED") >= 2 and set(outcomes) <= {"COMPLETED", "CANCELLED"}, outcomes
    for run in ended.values():
        if run.state_type.value == "CANCELLED":
            assert "concurrency limit" in (run.state.message or ""), run.state
    ran = sorted(  # the runs that did run (a run cancelled at once has a start and end time too, equal)
        (r.start_time, r.end_time)
        for r in _runs_of("sync-servings")
        if r.state_type.value in ("COMPLETED", "FAILED") and r.start_time and r.end_time
    )
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(ran)), ran
    flow_runner.stop()
    # Runs still in flight when the runner stopped end CRASHED; none may have FAILED.
    failed = [
        r
        for name in ("reconcile-training", "sync-servings")
        for r in _runs_of(name)
        if r.state_type and r.state_type.value == "FAILED"
    ]
    assert failed == [], [(r.name, r.state.message if r.state else None) for r in failed]
