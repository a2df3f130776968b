"""The training watchdog on real servers with the process runtime: container killed, deadline, MLflow down
during training, and reconcile after a restart. Intervals are MLOPS_TRAIN_* settings, so each runs in seconds.
"""

from __future__ import annotations

import json
import logging
import os
import signal
from datetime import timedelta

import pytest

from tests.flows.training_support import (
    container_log,
    create_job,
    in_thread,
    job_row,
    set_training,
    slow_fit,
    wait_for,
)

pytestmark = pytest.mark.slow


def running_job(job_id: int):  # type: ignore[no-untyped-def]
    job = wait_for(lambda: (j := job_row(job_id)).status == "running" and j, timeout=120, what="job running")
    wait_for(
        lambda: "slow-fit: sleeping" in container_log(job.container_name), timeout=120, what="fit started"
    )
    return job


def run_status(run_id: str) -> str:
    from infra import tracking

    return tracking.get_run(tracking.client(), run_id).status


def test_killed_container_fails_the_job_within_two_polls(seeded, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import flows.training
    from flows.watchdog import pause_for_round, watch_job
    from infra.runtime.registry import get_runtime

    slow_fit(tmp_path, monkeypatch, 120)
    polls: list[int] = []
    results = []

    def counted_watch(job_id: int):  # type: ignore[no-untyped-def]
        def counted_pause(container, wait) -> None:  # type: ignore[no-untyped-def]
            polls.append(1)
            pause_for_round(container, wait)

        result = watch_job(job_id, pause=counted_pause)
        results.append(result)
        return result

    monkeypatch.setattr(flows.training, "watch_job", counted_watch)
    job_id = create_job(seeded, "ecod-killed")
    outcome = in_thread(flows.training.train, job_id)
    job = running_job(job_id)
    state = json.loads(get_runtime().state_path(job.container_name).read_text())  # type: ignore[attr-defined]
    polls_at_kill = len(polls)
    os.kill(state["pid"], signal.SIGKILL)  # from outside the platform, like an OOM kill

    assert outcome.result(timeout=120)["status"] == "failed"
    assert results[0].polls - polls_at_kill <= 1, "not noticed within two polls"
    job = job_row(job_id)
    assert job.status == "failed" and "container failed" in job.error and "exit code 137" in job.error
    assert "slow-fit: sleeping" in (job.log_tail or "")
    assert run_status(job.mlflow_run_id) == "FAILED"


def test_deadline_fails_the_job_and_stops_the_container(seeded, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from flows.training import train
    from infra.runtime.registry import get_runtime

    slow_fit(tmp_path, monkeypatch, 300)
    # Budget 0.5 s x 40 = 20 s from the start: launch and imports fit inside it (the log tail is kept),
    # the 300 s fit does not.
    set_training(monkeypatch, poll_seconds=0.5, poll_max=40)
    job_id = create_job(seeded, "ecod-deadline")
    outcome = train(job_id)
    job = job_row(job_id)
    assert outcome["status"] == "failed" and "deadline" in job.error
    assert "slow-fit: sleeping" in (job.log_tail or "")
    name = job.container_name
    assert get_runtime().status([name])[name].state == "not_found"
    assert run_status(job.mlflow_run_id) == "KILLED"


def test_mlflow_down_during_training_then_back(seeded, tmp_path, monkeypatch, mlflow_server, caplog) -> None:  # type: ignore[no-untyped-def]
    from flows.training import train

    slow_fit(tmp_path, monkeypatch, 3)
    set_training(monkeypatch, poll_seconds=0.3, error_threshold=2, slow_poll_seconds=1, poll_max=2000)
    job_id = create_job(seeded, "ecod-mlflow-down")

    def outage() -> None:
        job = running_job(job_id)
        with mlflow_server.stopped():
            # The fit ends while MLflow is down: the container now retries its MLflow calls.
            wait_for(
                lambda: "slow-fit: done" in container_log(job.container_name), timeout=60, what="fit done"
            )
            wait_for(
                lambda: sum("MLflow unreachable" in r.getMessage() for r in caplog.records) >= 3,
                timeout=120,
                what="the watchdog to notice the outage",
            )
            assert job_row(job_id).status == "running"  # never failed, never stopped for MLflow alone

    caplog.set_level(logging.WARNING, logger="flows.watchdog")
    helper = in_thread(outage)
    outcome = train(job_id)
    helper.result(timeout=10)
    job = job_row(job_id)
    assert outcome["status"] == "completed", (job.error, job.log_tail)
    assert run_status(job.mlflow_run_id) == "FINISHED"


def test_reconcile_resumes_unwatched_jobs_only(seeded, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import flows.launch
    import flows.training
    from catalog.db import session_scope
    from catalog.models import JobStatus, TrainJob
    from catalog.models.base import utcnow
    from flows.training import reconcile_training, stop_training, train
    from flows.watchdog import WatchResult

    slow_fit(tmp_path, monkeypatch, 2)
    # A "platform restart": the train flows launch their containers and end without watching them.
    real_watch = flows.training.watch_job
    monkeypatch.setattr(flows.training, "watch_job", lambda job_id: WatchResult(status=JobStatus.RUNNING))
    orphan, fresh = create_job(seeded, "ecod-orphan"), create_job(seeded, "ecod-fresh")
    train(orphan)
    train(fresh)
    monkeypatch.setattr(flows.training, "watch_job", real_watch)
    monkeypatch.setenv("MLOPS_PREFECT_RUN_MODE", "inline")  # no deployment runner here: watch in-process
    set_training(monkeypatch)
    with session_scope() as session:
        session.get(TrainJob, orphan).watched_at = utcnow() - timedelta(minutes=10)
        session.get(TrainJob, fresh).watched_at = utcnow()

    assert reconcile_training(stale_after_seconds=60) == [orphan]
    job = job_row(orphan)
    assert job.status == "completed", (job.error, job.log_tail)
    assert run_status(job.mlflow_run_id) == "FINISHED"
    assert job_row(fresh).status == "running"  # watched recently: left alone

    # Deployment mode starts one watch-training run per orphan and returns; a second reconcile finds the
    # job claimed (its watched_at just moved) and launches nothing more.
    launched: list[tuple[str, dict]] = []  # type: ignore[type-arg]
    monkeypatch.setattr(
        flows.launch,
        "run_flow",
        lambda name, params, **kw: (
            launched.append((name, params)) or flows.launch.LaunchResult(flow_run_id="x", state="SCHEDULED")
        ),
    )
    monkeypatch.setenv("MLOPS_PREFECT_RUN_MODE", "deployment")
    set_training(monkeypatch)
    with session_scope() as session:
        session.get(TrainJob, fresh).watched_at = utcnow() - timedelta(minutes=10)
    assert reconcile_training(stale_after_seconds=60) == [fresh]
    assert reconcile_training(stale_after_seconds=60) == []
    assert launched == [("watch-training", {"job_id": fresh})]
    stop_training(fresh)
    assert job_row(fresh).status == "stopped"
