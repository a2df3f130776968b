"""A training job ends when its container exits, not at the next MLflow poll: the train flow on real servers
(SeaweedFS, MLflow, Prefect) with the process runtime.

The poll interval is set to 600 s, so only the container's exit event can end these jobs; each test expects
the job's end within 120 s of launch (far below the interval) with the right status, exit code and log tail,
and that the watch took a single round — it was woken once, by the exit.
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.flows.training_support import (
    container_log,
    create_job,
    failing_fit,
    in_thread,
    job_row,
    seed_catalog,
    set_training,
    slow_fit,
    wait_for,
)

pytestmark = pytest.mark.slow
POLL_SECONDS = 600
END_DEADLINE = 120.0  # from launch to the job's end; far below POLL_SECONDS


@pytest.fixture
def seeded(platform_env, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MLOPS_MLFLOW_EXPERIMENT_PREFIX", f"t{uuid.uuid4().hex[:10]}")
    set_training(monkeypatch, poll_seconds=POLL_SECONDS)
    return seed_catalog()


@pytest.fixture
def rounds(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The WatchResult of every watch the train flow runs (its ``polls`` counts the rounds)."""
    import flows.training
    from flows.watchdog import watch_job

    results: list[Any] = []

    def recorded(job_id: int) -> Any:
        results.append(watch_job(job_id))
        return results[-1]

    monkeypatch.setattr(flows.training, "watch_job", recorded)
    return results


def train_until_ended(job_id: int) -> dict[str, Any]:
    from flows.training import train

    outcome = in_thread(train, job_id)
    wait_for(
        lambda: job_row(job_id).status in ("completed", "failed"),
        timeout=END_DEADLINE,
        what=f"job {job_id} to end (the MLflow poll is {POLL_SECONDS} s away)",
    )
    return outcome.result(timeout=60)


def run_status(run_id: str) -> str:
    from infra import tracking

    return tracking.get_run(tracking.client(), run_id).status


def test_completed_when_the_container_exits(seeded, rounds) -> None:  # type: ignore[no-untyped-def]
    from infra.runtime.registry import get_runtime

    job_id = create_job(seeded, "ecod-event")
    outcome = train_until_ended(job_id)
    job = job_row(job_id)
    assert outcome["status"] == "completed" and job.status == "completed", (job.error, job.log_tail)
    assert job.error is None and run_status(job.mlflow_run_id) == "FINISHED"
    status = get_runtime().status([job.container_name])[job.container_name]
    assert status.state == "exited" and status.exit_code == 0
    assert [r.polls for r in rounds] == [1]


def test_failed_training_fails_the_job_with_exit_code_and_log_tail(
    seeded,
    rounds,
    tmp_path: Path,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failing_fit(tmp_path, monkeypatch, "the fit broke on purpose")
    job_id = create_job(seeded, "ecod-event-fails")
    outcome = train_until_ended(job_id)
    job = job_row(job_id)
    assert outcome["status"] == "failed" and job.status == "failed"
    assert job.error == "MLflow run FAILED; container failed with exit code 1", job.error
    assert "failing-fit: about to fail" in job.log_tail and "the fit broke on purpose" in job.log_tail
    assert run_status(job.mlflow_run_id) == "FAILED"
    assert [r.polls for r in rounds] == [1]


def test_killed_container_fails_the_job_at_once(
    seeded,
    rounds,
    tmp_path: Path,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.training import train
    from infra.runtime.registry import get_runtime

    slow_fit(tmp_path, monkeypatch, 300)
    job_id = create_job(seeded, "ecod-event-killed")
    outcome = in_thread(train, job_id)
    job = wait_for(
        lambda: (j := job_row(job_id)).status == "running" and j, timeout=END_DEADLINE, what="job running"
    )
    wait_for(
        lambda: "slow-fit: sleeping" in container_log(job.container_name),
        timeout=END_DEADLINE,
        what="fit started",
    )
    state = json.loads(get_runtime().state_path(job.container_name).read_text())  # type: ignore[attr-defined]
    os.kill(state["pid"], signal.SIGKILL)  # from outside the platform, like an OOM kill
    wait_for(
        lambda: job_row(job_id).status == "failed",
        timeout=END_DEADLINE,
        what=f"the kill noticed (the MLflow poll is {POLL_SECONDS} s away)",
    )
    assert outcome.result(timeout=60)["status"] == "failed"
    job = job_row(job_id)
    assert (
        job.error == "container failed with exit code 137: killed by SIGKILL before the MLflow run ended"
    ), job.error
    assert "slow-fit: sleeping" in job.log_tail
    assert run_status(job.mlflow_run_id) == "FAILED"
    assert [r.polls for r in rounds] == [1]
