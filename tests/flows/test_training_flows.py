"""The train / stop-training flows on real servers (SeaweedFS, MLflow, Prefect) with the process runtime:
a normal run, 20 concurrent starts, rollback on launch failure, a retried flow reusing its MLflow run, stop.
The runs API (catalog.services.runs) is exercised on the runs these flows leave behind."""

from __future__ import annotations

import io
import threading
import uuid
import zipfile

import pytest

from catalog.errors import ConflictError, NotFoundError
from catalog.permissions import BUILTIN_ROLES
from tests.flows.training_support import (
    container_log,
    create_job,
    in_thread,
    job_row,
    slow_fit,
    wait_for,
)

MEMBER_PERMISSIONS = BUILTIN_ROLES["member"].permissions

pytestmark = pytest.mark.slow


def job_runs(job_id: int) -> list:  # type: ignore[type-arg]
    from mlflow.entities import ViewType

    from catalog.services.job_config import experiment_name_for
    from infra import tracking

    mlflow = tracking.client()
    experiment = mlflow.get_experiment_by_name(experiment_name_for("anomaly_detection"))
    return mlflow.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{tracking.TAG_JOB}` = '{job_id}'",
        run_view_type=ViewType.ALL,
    )


def test_train_completes_and_runs_api(seeded) -> None:  # type: ignore[no-untyped-def]
    from catalog.scoping import Actor
    from catalog.services import runs
    from catalog.services.team_tree import create_team
    from flows.training import train

    job_id = create_job(seeded, "ecod-ok")
    outcome = train(job_id)
    job = job_row(job_id)
    assert outcome["status"] == "completed", (job.error, job.log_tail)
    assert job.status == "completed" and job.finished_at is not None and job.error is None

    listed = runs.list_runs(actor=seeded.admin, job_id=job_id)
    assert [r["run_id"] for r in listed] == [job.mlflow_run_id]
    assert listed[0]["status"] == "FINISHED" and listed[0]["duration_s"] > 0
    run_id = job.mlflow_run_id
    params = runs.run_params(actor=seeded.admin, job_id=job_id, run_id=run_id)
    assert params["contamination"] == "0.01" and params["algorithm"] == "ECOD"
    names = runs.metric_names(actor=seeded.admin, job_id=job_id, run_id=run_id)
    assert names
    history = runs.metric_history(actor=seeded.admin, job_id=job_id, run_id=run_id)
    assert set(history) == set(names) and all(points for points in history.values())

    download = runs.download_model(actor=seeded.admin, job_id=job_id, run_id=run_id)
    body = b"".join(download.chunks)
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert "MLmodel" in zf.namelist() and zf.testzip() is None
        model_files = sum(i.file_size for i in zf.infolist())
    assert download.filename.endswith(".zip")
    # The run's artifacts (its model among them) count in the team's stored bytes from its end.
    from catalog.db import session_scope
    from catalog.models import JobRun
    from catalog.services.quotas import team_usage

    with session_scope() as session:
        recorded = session.get(JobRun, run_id).model_bytes  # type: ignore[union-attr]
        assert recorded is not None and recorded >= model_files > 0
        assert team_usage(session, actor=seeded.admin, team_id=seeded.team_id).usage.stored_bytes >= recorded

    # Forged run ids: another job's run, a made-up id, a malformed one — all read like a missing run.
    other_job = create_job(seeded, "ecod-other")
    assert train(other_job)["status"] == "completed"
    other_run = job_row(other_job).mlflow_run_id
    messages = set()
    for forged in (other_run, uuid.uuid4().hex, "../../etc/passwd"):
        for call in (
            runs.run_params,
            runs.metric_names,
            runs.metric_history,
            runs.download_model,
            runs.delete_run,
            runs.restore_run,
        ):
            with pytest.raises(NotFoundError) as err:
                call(actor=seeded.admin, job_id=job_id, run_id=forged)
            messages.add(str(err.value).replace(repr(forged), "<id>"))
    assert messages == {"run <id> not found"}
    # A user of another team cannot reach the job's runs at all, with the same words as a missing job.
    from catalog.db import session_scope

    with session_scope() as session:
        team = create_team(session, actor=seeded.admin, name="other-team")
    outsider = Actor(user_id=None, username="outsider", grants={team.id: MEMBER_PERMISSIONS})
    with pytest.raises(NotFoundError, match="training job"):
        runs.run_params(actor=outsider, job_id=job_id, run_id=run_id)
    with pytest.raises(NotFoundError, match="training job"):
        runs.list_runs(actor=outsider, job_id=job_id)

    runs.delete_run(actor=seeded.admin, job_id=job_id, run_id=run_id)
    assert runs.list_runs(actor=seeded.admin, job_id=job_id) == []
    deleted = runs.list_runs(actor=seeded.admin, job_id=job_id, include_deleted=True)
    assert [r["lifecycle_stage"] for r in deleted] == ["deleted"]
    runs.restore_run(actor=seeded.admin, job_id=job_id, run_id=run_id)
    assert [r["run_id"] for r in runs.list_runs(actor=seeded.admin, job_id=job_id)] == [run_id]


def test_twenty_concurrent_starts_make_one_run(seeded, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from flows.training import stop_training, train

    # The winner trains until stopped, so every start of the race meets a running job (a job that has
    # finished is rightly startable again).
    slow_fit(tmp_path, monkeypatch, 300)
    job_id = create_job(seeded, "ecod-race")
    barrier = threading.Barrier(20)

    def start() -> object:
        barrier.wait()
        return train(job_id, return_state=True)

    futures = [in_thread(start) for _ in range(20)]
    wait_for(lambda: sum(f.done() for f in futures) >= 19, timeout=300, what="19 starts to return")
    pending = [f for f in futures if not f.done()]
    refused = [f.result().result(raise_on_failure=False) for f in futures if f not in pending]
    assert len(refused) == 19 and all(
        isinstance(e, ConflictError) and "already running" in str(e) for e in refused
    ), refused
    job = job_row(job_id)
    assert job.status in ("starting", "running")
    wait_for(lambda: job_row(job_id).status == "running", timeout=120, what="the winner running")
    stop_training(job_id)
    assert len(pending) == 1
    winner = pending[0].result(timeout=120).result()
    assert winner["status"] == "stopped"
    assert [r.info.run_id for r in job_runs(job_id)] == [winner["run_id"]]


def test_launch_failure_restores_status_and_fails_the_run(seeded, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from flows.training import train
    from infra.runtime.base import RuntimeError_
    from infra.runtime.process import ProcessRuntime

    job_id = create_job(seeded, "ecod-launch-fails")

    def refuse(self, spec):  # type: ignore[no-untyped-def]
        raise RuntimeError_("no capacity for this container")

    monkeypatch.setattr(ProcessRuntime, "start", refuse)
    with pytest.raises(RuntimeError_):
        train(job_id)
    job = job_row(job_id)
    assert job.status == "created" and "launch failed: no capacity" in (job.error or "")
    found = job_runs(job_id)
    assert len(found) == 1 and found[0].info.status == "FAILED"
    monkeypatch.undo()


def test_retried_flow_reuses_its_run(seeded, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from flows.training import train
    from infra.runtime.base import RuntimeError_
    from infra.runtime.process import ProcessRuntime

    job_id = create_job(seeded, "ecod-retry")
    real_start = ProcessRuntime.start
    calls: list[str] = []

    def first_fails(self, spec):  # type: ignore[no-untyped-def]
        calls.append(spec.name)
        if len(calls) == 1:
            raise RuntimeError_("engine hiccup (not transient)")
        return real_start(self, spec)

    monkeypatch.setattr(ProcessRuntime, "start", first_fails)
    outcome = train.with_options(retries=1, retry_delay_seconds=0)(job_id)
    job = job_row(job_id)
    assert outcome["status"] == "completed", (job.error, job.log_tail)
    assert len(calls) == 2
    found = job_runs(job_id)
    assert [(r.info.run_id, r.info.status) for r in found] == [(outcome["run_id"], "FINISHED")]


def test_stop_kills_the_run_and_leaves_the_job_startable(seeded, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from catalog.services import runs
    from flows.training import stop_training, train
    from infra import tracking
    from infra.runtime.registry import get_runtime

    slow_fit(tmp_path, monkeypatch, 120)
    job_id = create_job(seeded, "ecod-stop")
    running = in_thread(train, job_id)
    job = wait_for(lambda: (j := job_row(job_id)).status == "running" and j, timeout=120, what="job running")
    wait_for(
        lambda: "slow-fit: sleeping" in container_log(job.container_name), timeout=120, what="fit started"
    )

    with pytest.raises(ConflictError, match="running"):
        runs.delete_run(actor=seeded.admin, job_id=job_id, run_id=job.mlflow_run_id)
    assert stop_training(job_id)["stopped"] is True
    assert running.result(timeout=60)["status"] == "stopped"
    job = job_row(job_id)
    assert job.status == "stopped"
    assert tracking.get_run(tracking.client(), job.mlflow_run_id).status == "KILLED"
    assert get_runtime().status([job.container_name])[job.container_name].state == "not_found"
    # Startable again: the claim succeeds (the second start is stopped straight away).
    again = in_thread(train, job_id)
    wait_for(lambda: job_row(job_id).status == "running", timeout=120, what="restart running")
    stop_training(job_id)
    assert again.result(timeout=60)["status"] == "stopped"
    assert len(job_runs(job_id)) == 2
