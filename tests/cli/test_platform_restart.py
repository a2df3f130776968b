"""A restart of the whole platform with training running, on real processes: `mlops down` then `mlops up`.

- With ``--keep-workloads`` the training process outlives the platform; the new deployment server re-watches
  the job at once, and the job completes on its own.
- Without it, `mlops down` stops the training process; after `mlops up` the job is failed on its own, with
  the reason, instead of staying `running` forever. A serving stopped with the platform is started again
  and answers predictions.
Either way no flow run of the stopped platform stays RUNNING in Prefect.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from infra.net import wait_until
from tests.fixtures.gates import Gates
from tests.fixtures.platform_process import Platform
from tests.flows.test_walking_skeleton import make_series

pytestmark = pytest.mark.slow


def _job(platform: Platform, job_id: int) -> dict[str, Any]:
    with sqlite3.connect(platform.data_dir / "catalog.db") as db:
        db.row_factory = sqlite3.Row
        row = db.execute(
            "SELECT status, error, flow_run_id, log_tail FROM train_job WHERE id = ?", (job_id,)
        ).fetchone()
    return dict(row)


def _wait_status(platform: Platform, job_id: int, statuses: set[str], timeout: float) -> dict[str, Any]:
    wait_until(
        lambda: _job(platform, job_id)["status"] in statuses,
        timeout=timeout,
        interval=0.5,
        description=f"job {job_id} {statuses}",
    )
    return _job(platform, job_id)


def _flow_runs(platform: Platform) -> list[Any]:
    from prefect.client.orchestration import PrefectClient

    prefect = platform.settings().prefect

    async def read() -> list[Any]:
        async with PrefectClient(prefect.api_url, auth_string=prefect.auth_string) as client:
            return list(await client.read_flow_runs())

    return asyncio.run(read())


def _start_job(platform: Platform, release_id: int, name: str) -> int:
    job = platform.cli_json(
        "jobs",
        "create",
        name,
        "-s",
        "anomaly_detection",
        "-a",
        "ECOD",
        "--release",
        str(release_id),
        "--params",
        '{"contamination": 0.05}',
    )
    started = platform.cli("jobs", "start", str(job["id"]), "--no-wait")
    assert started.code == 0, started.err + started.out
    return int(job["id"])


def test_training_survives_or_ends_cleanly_across_a_platform_restart(tmp_path: Path) -> None:
    gates = Gates(
        tmp_path
    )  # ECOD's fit waits at the "train" gate until the test opens it; nothing else waits
    gates.open("publish", "serve")
    platform = Platform(
        tmp_path / "platform",
        MLOPS_TRAIN_POLL_SECONDS="2",
        PYTHONPATH=os.pathsep.join([str(gates.hook), str(Path(__file__).resolve().parents[2])]),
    )
    platform.root.mkdir()
    try:
        platform.init()
        platform.up()
        dataset = platform.cli_json("datasets", "create", "cpu", "--scenario", "anomaly_detection")
        upload = platform.cli(
            "datasets",
            "upload",
            str(dataset["id"]),
            str(make_series(tmp_path / "train.csv", n=300, seed=1, anomalies=[50, 200])),
        )
        assert upload.code == 0, upload.err
        release = platform.cli_json("datasets", "publish", str(dataset["id"]))
        assert release["status"] == "published", release

        # 1. Kept across the restart: the job completes on its own once its fit may go on.
        kept = _start_job(platform, release["id"], "kept")
        first_flow_run = _wait_status(platform, kept, {"running"}, timeout=180)["flow_run_id"]
        platform.down(keep_workloads=True)
        platform.up()
        gates.open("train")
        done = _wait_status(platform, kept, {"completed", "failed"}, timeout=180)
        assert done["status"] == "completed", done

        # 2. Stopped with the platform: after the restart the job is failed, with the reason; the serving of
        # the completed job is running again.
        serving = platform.cli_json("servings", "create", "live", "--job", str(kept))
        assert serving["observed_state"] == "running", serving
        (gates.dir / "train.open").unlink()
        stopped = _start_job(platform, release["id"], "stopped")
        _wait_status(platform, stopped, {"running"}, timeout=180)
        platform.down()
        platform.up()
        failed = _wait_status(platform, stopped, {"completed", "failed"}, timeout=180)
        assert failed["status"] == "failed", failed
        assert "before the MLflow run ended" in (failed["error"] or ""), failed

        def serving_state() -> str:
            return str(platform.cli_json("servings", "status", str(serving["id"]))["observed_state"])

        wait_until(
            lambda: serving_state() == "running",
            timeout=180,
            interval=2,
            description="the serving stopped with the platform running again",
        )
        payload = make_series(tmp_path / "predict.csv", n=20, seed=3, anomalies=[5])
        predicted = platform.cli("predict", str(serving["id"]), "--file", str(payload))
        assert predicted.code == 0, predicted.err + predicted.out
        assert len(json.loads(predicted.out)["results"]) == 20, predicted.out

        # Nothing of the stopped platforms is left RUNNING in Prefect: the train flow run of job 1 was closed,
        # and once the watches of this platform are done only the long-running NATS responder runs.
        first = next(r for r in _flow_runs(platform) if str(r.id) == first_flow_run)
        assert first.state_type.value == "CRASHED", first.state

        def open_runs() -> list[str]:
            return [
                r.name
                for r in _flow_runs(platform)
                if r.state_type.value in ("RUNNING", "PENDING") and "long-running" not in r.tags
            ]

        wait_until(lambda: not open_runs(), timeout=60, interval=1, description="no flow run left open")
    finally:
        gates.open("train")
        platform.kill()
