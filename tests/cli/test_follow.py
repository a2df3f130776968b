"""The CLI's launch outcomes, with the flow runner `mlops up` starts and `mlops` as separate processes: two
concurrent starts of one job (or publishes of one release) — exactly one succeeds, the other says another
request has it; `--wait` prints progress and gives up at its deadline; a stopped Prefect server is one clear
error at once; a flow run nobody picks up is reported at the `--no-wait` deadline. `mlops jobs` reaches the
platform through a live API server (``api_server``), which launches the flows as deployments."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from typing import Any

import pytest

from tests.fixtures.runner import FlowRunner, MlopsCli, ok
from tests.fixtures.servers import PrefectServer
from tests.flows.training_support import create_job, job_row, seed_catalog, set_training, slow_fit, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.platform_servers("s3", "mlflow", "prefect")]

CONFLICT, TIMED_OUT, UNREACHABLE = 3, 4, 5  # cli.common.ExitCode


@pytest.fixture
def seeded(platform_env: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    set_training(monkeypatch, poll_seconds=0.3)
    return seed_catalog()


def both(cli: MlopsCli, *args: str) -> list[subprocess.CompletedProcess[str]]:
    """The same command twice at once; results in the order the processes were started."""
    procs = [cli.popen(*args) for _ in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def winner_and_loser(results: list[subprocess.CompletedProcess[str]]) -> tuple[Any, Any]:
    codes = sorted(r.returncode for r in results)
    assert codes == [0, CONFLICT], [(r.returncode, r.stdout, r.stderr) for r in results]
    return (results[0], results[1]) if results[0].returncode == 0 else (results[1], results[0])


def flow_run_of(result: subprocess.CompletedProcess[str]) -> str:
    url = json.loads(result.stdout)["flow_run"]
    assert url, result.stdout
    return str(url).rsplit("/", 1)[-1]


def test_two_starts_of_one_job_one_wins(
    seeded: Any, flow_runner: FlowRunner, mlops_cli: MlopsCli, api_server: Any
) -> None:
    from catalog.services import runs

    job_id = create_job(seeded, "raced")
    flow_runner.start()
    winner, loser = winner_and_loser(both(mlops_cli, "jobs", "start", str(job_id), "--no-wait", "--json"))
    accepted = json.loads(winner.stdout)
    assert accepted["status"] in ("starting", "running", "completed"), accepted
    # The loser launched a flow run of its own, which lost the claim: the request really raced.
    lost = json.loads(loser.stdout)
    assert lost["flow_state"] == "FAILED" and flow_run_of(loser) != flow_run_of(winner)
    assert (
        f"training job 'raced' was already started by another request (flow run {flow_run_of(winner)})"
        in loser.stderr
    ), loser.stderr
    assert loser.stderr.count("\n") >= 1 and "Traceback" not in loser.stderr

    job = wait_for(
        lambda: (j := job_row(job_id)).status in ("completed", "failed") and j,
        timeout=180,
        what="the accepted job to end",
    )
    assert job.status == "completed" and job.flow_run_id == flow_run_of(winner), (job.error, job.log_tail)
    assert len(runs.list_runs(actor=seeded.admin, job_id=job_id)) == 1, "one start, one MLflow run"


def test_two_republishes_of_one_release_one_wins(
    seeded: Any, api_server: Any, flow_runner: FlowRunner, mlops_cli: MlopsCli, tmp_path: Any
) -> None:
    from catalog.db import session_scope
    from catalog.services import datasets as ds
    from catalog.services import releases as rel
    from catalog.uploads import upload_entry
    from tests.flows.test_walking_skeleton import make_series

    with session_scope() as session:
        dataset = ds.create_dataset(
            session, actor=seeded.admin, team_id=seeded.team_id, scenario="anomaly_detection", name="raced"
        )
    upload_entry(
        actor=seeded.admin,
        dataset_id=dataset.id,  # type: ignore[arg-type]
        path=make_series(tmp_path / "a.csv", n=200, seed=1, anomalies=[]),
    )
    with session_scope() as session:
        release = rel.create_release(session, actor=seeded.admin, dataset_id=dataset.id)  # type: ignore[arg-type]
    flow_runner.start()
    winner, loser = winner_and_loser(both(mlops_cli, "datasets", "republish", str(release.id), "--json"))
    assert json.loads(winner.stdout)["status"] == "published"
    assert re.search(
        r"release 'v1' (is already publishing for|was already published by) another request "
        rf"\(flow run {flow_run_of(winner)}\)",
        loser.stderr,
    ), loser.stderr
    with session_scope() as session:
        assert rel.get_release(session, actor=seeded.admin, release_id=release.id).flow_run_id == flow_run_of(
            winner
        )  # type: ignore[arg-type]


def test_wait_prints_progress_and_gives_up_at_its_deadline(
    seeded: Any,
    flow_runner: FlowRunner,
    mlops_cli: MlopsCli,
    api_server: Any,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slow_fit(tmp_path, monkeypatch, seconds=600)  # before the runner starts: its containers inherit it
    job_id = create_job(seeded, "slow")
    flow_runner.start()
    deadline = 60  # long enough for a loaded runner to pick the run up and launch it (the fit sleeps 600 s)
    result = mlops_cli(
        "jobs",
        "start",
        str(job_id),
        "--wait",
        "--timeout",
        str(deadline),
        "--json",
        MLOPS_PREFECT_PROGRESS_SECONDS="2",
    )
    assert result.returncode == TIMED_OUT, (result.stdout, result.stderr)
    row = json.loads(result.stdout)  # stdout is the job alone: progress goes to stderr
    assert row["status"] in ("starting", "running"), row
    lines = result.stderr.splitlines()
    assert re.fullmatch(
        r"\[\s*\d+s\] training job 'slow': status created, flow run (SCHEDULED|PENDING)", lines[0]
    ), lines
    assert any(
        re.fullmatch(r"\[\s*\d+s\] training job 'slow': status (starting|running), flow run RUNNING", line)
        for line in lines
    ), lines
    assert any(
        re.fullmatch(r"\[\s*\d+s\] still waiting: training job 'slow': status \w+, flow run \w+", line)
        for line in lines
    ), lines
    assert lines[-1].startswith(f"error: training job 'slow' has not finished after {deadline} s (status ")
    assert lines[-1].endswith(f"it keeps running — follow it with `mlops jobs status {job_id}`"), lines[-1]
    assert job_row(job_id).status in ("starting", "running"), "giving up following does not stop the job"

    wait_for(lambda: job_row(job_id).status == "running", timeout=120, what="the job to run")
    stopped = ok(mlops_cli("jobs", "stop", str(job_id), "--json"))
    assert json.loads(stopped.stdout)["status"] == "stopped"


def test_unreachable_prefect_is_one_clear_error_at_once(
    seeded: Any, mlops_cli: MlopsCli, prefect_server: PrefectServer, api_server: Any
) -> None:
    """The API stays up (servings go through it) while Prefect is down: its 503 is the same one line."""
    from catalog.db import session_scope
    from catalog.models import TrainJob
    from catalog.services import releases as rel
    from catalog.services import serving as servings

    job_id = create_job(seeded, "offline")
    trained = create_job(seeded, "trained")
    with session_scope() as session:
        dataset_id = rel.get_release(session, actor=seeded.admin, release_id=seeded.release_id).dataset_id
        session.get(TrainJob, trained).status = "completed"  # type: ignore[union-attr]
        session.flush()
        serving = servings.create_serving(
            session, actor=seeded.admin, team_id=seeded.team_id, name="live", train_job_id=trained
        )
    expected = f"error: the Prefect server at {prefect_server.api_url} is unreachable ("
    with prefect_server.stopped():
        for args in (
            ("jobs", "start", str(job_id), "--wait"),
            ("jobs", "start", str(job_id), "--no-wait"),
            ("jobs", "stop", str(job_id)),
            ("datasets", "publish", str(dataset_id)),
            ("servings", "start", str(serving.id)),
            ("servings", "create", "another", "--job", str(trained)),
        ):
            result = mlops_cli(*args, timeout=120)
            assert result.returncode == UNREACHABLE, (args, result.stdout, result.stderr)
            assert (
                result.stderr.startswith(expected)
                and "is the platform running (`mlops up`)?" in result.stderr
            )
            assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert job_row(job_id).status == "created"
    with session_scope() as session:
        assert [r.version for r in rel.list_releases(session, actor=seeded.admin, dataset_id=dataset_id)] == [
            "v1"
        ], "no release is created while nothing could publish it"
        assert servings.list_servings(session, actor=seeded.admin)[0] == 1, (
            "nor a serving nothing could start"
        )


def test_no_wait_without_a_runner_is_reported_at_its_deadline(
    seeded: Any, mlops_cli: MlopsCli, api_server: Any
) -> None:
    from prefect.client.orchestration import get_client

    job_id = create_job(seeded, "queued")
    result = mlops_cli("jobs", "start", str(job_id), "--no-wait", "--timeout", "3", "--json")
    try:
        assert result.returncode == TIMED_OUT, (result.stdout, result.stderr)
        assert (
            "was not picked up within 3 s (it is SCHEDULED): is the flow runner (`mlops up`) running?"
            in result.stderr
        ), result.stderr
        assert f"follow it with `mlops jobs status {job_id}`" in result.stderr
    finally:
        # Never leave a queued run behind: a later test's runner would pick it up against its own catalog.
        url = json.loads(result.stdout or "{}").get("flow_run")
        if url:
            with get_client(sync_client=True) as client:
                client.delete_flow_run(uuid.UUID(url.rsplit("/", 1)[-1]))
    assert job_row(job_id).status == "created"
