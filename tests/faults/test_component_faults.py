"""Faults: each component of a running platform killed in turn while a publish, a training and a serving start
are in flight (each paused at its gate, tests/fixtures/gates.py, then let go while the component is down).

The platform is the real one (`mlops init`, a foreground `mlops up` without the dashboard, the CLI), with a
restart back-off long enough that the work runs into the outage. For every component the suite checks what a
user relies on: every piece of work ends (published or failed, completed or failed, running or failed —
nothing left `publishing`, `running` or `starting`), a failure says why, nothing is left half-written (no
incomplete upload, no release object of a failed release, no MLflow run RUNNING for an ended job), the
component comes back by itself, and the same work succeeds when asked again.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.net import wait_until
from tests.fixtures.gates import Gates
from tests.fixtures.platform_process import Platform
from tests.flows.test_walking_skeleton import make_series

pytestmark = pytest.mark.slow
GATES = ("publish", "train", "serve")
# Long enough for the paused work, let go at the kill, to meet the outage; the component is back soon after.
RESTART_AFTER = "8"
FINAL_TIMEOUT = 300.0


class FaultyPlatform:
    def __init__(self, root: Path) -> None:
        self.gates = Gates(root)
        self.platform = Platform(
            root / "platform",
            PYTHONPATH=os.pathsep.join([str(self.gates.hook), str(Path(__file__).resolve().parents[2])]),
            MLOPS_RESTART_BASE_SECONDS=RESTART_AFTER,
            MLOPS_TRAIN_POLL_SECONDS="2",
            MLOPS_TRAIN_ERROR_THRESHOLD="3",
            MLOPS_TRAIN_SLOW_POLL_SECONDS="5",
            MLOPS_TRAIN_WATCH_STALE_SECONDS="20",
            MLOPS_PREFECT_SCHEDULE_OVERRIDES=json.dumps(
                {"reconcile-training": 20, "sync-servings": 10, "reconcile-releases": 20}
            ),
        )
        self.platform.root.mkdir(parents=True)
        self.root = root
        self.dataset_id = 0
        self.release_id = 0
        self.trained_job_id = 0

    # -- reading the platform's state directly (the CLI takes seconds a call) -------------------------------

    def row(self, table: str, row_id: int) -> dict[str, Any]:
        with sqlite3.connect(self.platform.data_dir / "catalog.db") as db:
            db.row_factory = sqlite3.Row
            found = db.execute(f"SELECT * FROM {table} WHERE id = ?", (row_id,)).fetchone()
        assert found is not None, (table, row_id)
        return dict(found)

    def wait_row(
        self, table: str, row_id: int, column: str, values: set[str], timeout: float = FINAL_TIMEOUT
    ) -> dict[str, Any]:
        try:
            wait_until(
                lambda: self.row(table, row_id)[column] in values,
                timeout=timeout,
                interval=0.5,
                description=f"{table} {row_id} {column} in {values}",
            )
        except TimeoutError:
            raise AssertionError(
                f"{table} {row_id} stuck: {self.row(table, row_id)}\n{self.platform.output()[-3000:]}"
            ) from None
        return self.row(table, row_id)

    def component(self, name: str) -> dict[str, Any]:
        state = json.loads((self.platform.data_dir / "run" / "platform.json").read_text())
        return next(c for c in state["components"] if c["name"] == name)

    def kill(self, name: str) -> int:
        entry = self.component(name)
        os.kill(int(entry["pid"]), signal.SIGKILL)
        return int(entry["pid"])

    def wait_back(self, name: str, old_pid: int) -> None:
        def back() -> bool:
            entry = self.component(name)
            return entry["pid"] != old_pid and entry.get("phase") == "running"

        wait_until(back, timeout=240, interval=0.5, description=f"{name} restarted by mlops up")

    def settings(self) -> Any:
        return self.platform.settings()

    def diagnostics(self) -> str:
        """What a failing case prints: the latest rows, the gates reached, the logs' tails."""
        out = [f"gates: {sorted(p.name for p in self.gates.dir.iterdir())}"]
        with sqlite3.connect(self.platform.data_dir / "catalog.db") as db:
            for table in ("dataset_release", "train_job", "serving"):
                rows = db.execute(f"SELECT * FROM {table} ORDER BY id DESC LIMIT 2").fetchall()
                out.append(f"{table}: {rows}")
        logs = self.platform.data_dir / "logs"
        for name in ("deployments.log", "runtime"):
            path = logs / name
            if path.is_file():
                out.append(f"--- {name} ---\n{path.read_text(errors='replace')[-2500:]}")
        for log in sorted((self.platform.data_dir / "runtime").rglob("*.log"))[-3:]:
            out.append(f"--- {log.name} ---\n{log.read_text(errors='replace')[-1500:]}")
        return "\n".join(out)

    # -- work -------------------------------------------------------------------------------------------------

    def prepare(self) -> None:
        """A dataset with a published release and one trained job, with every gate open."""
        p = self.platform
        self.gates.open(*GATES)
        p.init()
        p.up()
        dataset = p.cli_json("datasets", "create", "cpu", "--scenario", "anomaly_detection")
        self.dataset_id = int(dataset["id"])
        train = make_series(self.root / "train.csv", n=400, seed=1, anomalies=[50, 300])
        assert p.cli("datasets", "upload", str(self.dataset_id), str(train)).code == 0
        release = p.cli_json("datasets", "publish", str(self.dataset_id))
        assert release["status"] == "published", release
        self.release_id = int(release["id"])
        self.trained_job_id = self.start_job("base")
        done = self.wait_row("train_job", self.trained_job_id, "status", {"completed", "failed"})
        assert done["status"] == "completed", done
        self.gates.close_all()

    def start_job(self, name: str) -> int:
        job = self.platform.cli_json(
            "jobs",
            "create",
            name,
            "-s",
            "anomaly_detection",
            "-a",
            "ECOD",
            "--release",
            str(self.release_id),
            "--params",
            '{"contamination": 0.05}',
        )
        result = self.platform.cli("jobs", "start", str(job["id"]), "--no-wait")
        assert result.code == 0, result.err + result.out
        return int(job["id"])

    def publish(self) -> int:
        release = self.platform.cli_json("datasets", "publish", str(self.dataset_id), "--no-wait")
        return int(release["id"])

    def create_serving(self, name: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cli",
                "servings",
                "create",
                name,
                "--job",
                str(self.trained_job_id),
                "--json",
            ],
            env=self.platform.env,
            cwd=self.platform.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def serving_id(self, name: str) -> int:
        with sqlite3.connect(self.platform.data_dir / "catalog.db") as db:
            found = db.execute("SELECT id FROM serving WHERE name = ?", (name,)).fetchone()
        return int(found[0]) if found else 0

    # -- consistency ----------------------------------------------------------------------------------------

    def incomplete_uploads(self) -> list[str]:
        from infra.objectstore import ObjectStore

        s3 = self.settings().s3
        return [u.key for u in ObjectStore(s3).incomplete_uploads("releases/")]

    def release_objects(self) -> set[str]:
        from infra.objectstore import ObjectStore

        s3 = self.settings().s3
        return {o.key for o in ObjectStore(s3).list("releases/")}

    def mlflow_status(self, run_id: str) -> str:
        """Through MLflow's REST API with this platform's credentials (the session's MLflow client variables
        belong to the test servers and stay as they are)."""
        import httpx

        mlflow = self.settings().mlflow
        answer = httpx.get(
            f"{mlflow.uri}/api/2.0/mlflow/runs/get",
            params={"run_id": run_id},
            timeout=30,
            auth=(mlflow.username, mlflow.password),
            trust_env=False,
        )
        answer.raise_for_status()
        return str(answer.json()["run"]["info"]["status"])

    def predict(self, serving_id: int) -> dict[str, Any]:
        payload = self.root / "predict.csv"
        make_series(payload, n=50, seed=3, anomalies=[10])
        result = self.platform.cli("predict", str(serving_id), "--file", str(payload))
        assert result.code == 0, result.err + result.out
        return json.loads(result.out)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultyPlatform]:
    platform = FaultyPlatform(tmp_path_factory.mktemp("faults"))
    try:
        platform.prepare()
        yield platform
    finally:
        platform.gates.open(*GATES)
        platform.platform.kill()


@pytest.mark.parametrize("component", ["s3", "mlflow", "nats", "prefect", "deployments"])
def test_work_in_flight_ends_consistently_when_a_component_dies(
    faulty: FaultyPlatform, component: str
) -> None:
    p = faulty
    p.gates.close_all()
    case = f"{component}-{int(time.time())}"
    release_id = p.publish()
    job_id = p.start_job(case)
    creating = p.create_serving(case)
    for gate in GATES:
        try:
            wait_until(
                lambda g=gate: p.gates.waiting(g) or creating.poll() is not None,  # type: ignore[misc]
                timeout=180,
                interval=0.3,
                description=f"work paused at the {gate} gate",
            )
        except TimeoutError:
            raise AssertionError(f"nothing reached the {gate} gate\n{p.diagnostics()}") from None
        assert creating.poll() is None, (
            f"`servings create` ended early: {creating.communicate()}\n{p.diagnostics()}"
        )

    old_pid = p.kill(component)
    p.gates.open(*GATES)

    release = p.wait_row("dataset_release", release_id, "status", {"published", "failed"})
    job = p.wait_row("train_job", job_id, "status", {"completed", "failed"})
    try:
        out, err = creating.communicate(timeout=FINAL_TIMEOUT)
    except subprocess.TimeoutExpired:
        creating.kill()
        raise AssertionError(f"`servings create` never returned\n{p.platform.output()[-3000:]}") from None
    serving_id = p.serving_id(case)
    assert serving_id, (creating.returncode, out, err)
    serving = p.wait_row(
        "serving", serving_id, "observed_state", {"running", "failed", "exited", "not_found"}
    )
    p.wait_back(component, old_pid)

    # Every failure says why, and the command that asked reported it.
    for row in (release, job):
        assert row["status"] in ("published", "completed") or row["error"], row
    if creating.returncode != 0:
        assert err.strip(), "a failed `servings create` must say why"
    # Nothing half-written.
    key = f"releases/{p.dataset_id}/{release_id}/"
    stored = {k for k in p.release_objects() if k.startswith(key)}
    assert bool(stored) == (release["status"] == "published"), (release, stored)
    wait_until(
        lambda: not p.incomplete_uploads(), timeout=120, interval=2, description="no incomplete upload"
    )
    if job["mlflow_run_id"]:
        wait_until(
            lambda: p.mlflow_status(job["mlflow_run_id"]) != "RUNNING",
            timeout=120,
            interval=2,
            description="the ended job's MLflow run ended too",
        )

    # The same work, asked again, succeeds.
    if release["status"] == "failed":
        again = p.platform.cli_json("datasets", "republish", str(release_id))
        assert again["status"] == "published", again
    if job["status"] == "failed":
        assert p.platform.cli("jobs", "start", str(job_id), "--wait").code == 0
        assert p.row("train_job", job_id)["status"] == "completed"
    if serving["observed_state"] != "running" or creating.returncode != 0:
        started = p.platform.cli("servings", "start", str(serving_id))
        assert started.code == 0, started.err + started.out
    prediction = p.predict(serving_id)
    assert prediction["metadata"]["count"] == 50, prediction
    assert p.platform.cli("servings", "delete", str(serving_id), timeout=240).code == 0
    if component == "nats":
        assert _nats_answers(p.settings()), "the NATS responder did not reconnect after nats-server restarted"


def _nats_answers(settings: Any) -> bool:
    import asyncio

    import nats

    from infra.natsbus import request

    async def ask() -> bool:
        nc = await nats.connect(
            settings.nats.url,
            user=settings.nats.client_user,
            password=settings.nats.client_password,
            inbox_prefix=settings.nats.client_inbox_prefix.encode(),
        )
        try:
            for _ in range(60):
                try:
                    reply = await request(nc, f"{settings.nats.namespace}.get_mlops_module_list", timeout=2)
                    return bool(reply.get("success"))
                except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                    await asyncio.sleep(0.5)
            return False
        finally:
            await nc.close()

    return asyncio.run(ask())
