"""Custom training jobs end to end on real servers (SeaweedFS, MLflow, Prefect, a live API) with the process runtime:
the job is created through the API (SDK and CLI), started as existing tests start preset jobs — the ``train`` flow
in-process (the generic start endpoint lives in another module of the API) — and its command, a Python script
passed inline, reads the release zip at $MLOPS_RELEASE_PATH, fits a scikit-learn model, logs a metric into the
platform's run and registers a pyfunc model as $MLOPS_MODEL_NAME. The job completes, the catalog's job_run holds
the run, and a serving of the job answers predict. A command exiting 1 and one registering nothing fail with
their reasons.

On the process runtime the image is recorded and ignored: the command runs on the platform host, ``python``
being the platform's interpreter (its venv has MLflow and scikit-learn), the release fetched by the launcher
into the container's work dir (``.../work/train-<id>/input/release.zip``).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.docker import docker_engine  # noqa: F401
from tests.flows.training_support import add_release, job_row, series, set_training

pytestmark = pytest.mark.slow

TRAIN = r"""
import json, os, sys, zipfile
import numpy as np, pandas as pd
import mlflow, mlflow.pyfunc
from sklearn.ensemble import IsolationForest

assert not any(k.startswith("AWS_") for k in os.environ), "user code gets no S3 credentials"
assert os.environ["GREETING"] == "hello from the job's env"
path = os.environ["MLOPS_RELEASE_PATH"]
assert os.path.dirname(path) == os.environ["MLOPS_INPUT_DIR"]
print("custom-train: release at", path, "job", os.environ["MLOPS_JOB_ID"], flush=True)
with zipfile.ZipFile(path) as zf:
    manifest = json.loads(zf.read("manifest.json"))
    train = pd.concat(pd.read_csv(zf.open(name)) for name in manifest["splits"]["train"]["files"])


class Detector(mlflow.pyfunc.PythonModel):
    def __init__(self, forest):
        self.forest = forest

    def predict(self, context, model_input, params=None):
        frame = pd.DataFrame(model_input)
        values = frame[["value"]].astype(float)
        labels = (self.forest.predict(values) == -1).astype(int)
        return pd.DataFrame({
            "timestamp": frame["timestamp"],
            "label": labels,
            "score": -self.forest.score_samples(values),
            "severity": np.where(labels == 1, "high", "normal"),
        })


forest = IsolationForest(n_estimators=50, contamination=0.01, random_state=0).fit(train[["value"]])
platform_run = os.environ["MLFLOW_RUN_ID"]  # start_run() takes it (and removes it from the environment)
with mlflow.start_run() as run:
    assert run.info.run_id == platform_run
    mlflow.log_metric("train_rows", len(train))
    mlflow.pyfunc.log_model(
        name="model",
        python_model=Detector(forest),
        registered_model_name=os.environ["MLOPS_MODEL_NAME"],
        pip_requirements=["scikit-learn", "pandas"],
    )
print("custom-train: registered", os.environ["MLOPS_MODEL_NAME"], flush=True)
"""
EXIT_1 = "import sys; print('custom-fail: giving up', flush=True); sys.exit(1)"
NO_MODEL = (
    "import mlflow\n"
    "with mlflow.start_run():\n"
    "    mlflow.log_metric('loss', 0.5)\n"
    "print('custom-nomodel: done, nothing registered', flush=True)\n"
)


@pytest.fixture
def team(api_server: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The admin's team, a published release in it, and the admin's SDK client on the live API."""
    from catalog.db import session_scope
    from catalog.services.teams import actor_for
    from infra.settings import get_settings

    set_training(monkeypatch, poll_seconds=0.3)
    with session_scope() as session:
        admin = actor_for(session, username=get_settings().platform.admin_username)
    team_id = min(admin.team_ids)
    return {
        "admin": admin,
        "team_id": team_id,
        "release_id": add_release(team_id),
        "client": api_server.client(),
    }


def test_custom_job_trains_registers_and_serves(team: dict[str, Any]) -> None:
    from catalog.db import session_scope
    from catalog.services import runs
    from catalog.services import serving as serving_service
    from catalog.services import training as training_service
    from flows.serving import serving_delete, serving_start
    from flows.training import train
    from infra import tracking
    from tasks.predict import predict

    client = team["client"]
    created = client.custom_jobs.create(
        "byo-forest",
        team["release_id"],
        "registry.example/team/forest:1",
        ["python", "-c", TRAIN],
        env={"GREETING": "hello from the job's env"},
        cpu=1,
        memory="2Gi",
    )
    assert (created.kind, created.status, created.scenario) == ("custom", "created", "anomaly_detection")
    assert (created.cpu_limit, created.memory_limit_mb) == (1.0, 2048)

    outcome = train(created.id)
    job = job_row(created.id)
    assert outcome["status"] == "completed", (job.error, job.log_tail)
    assert job.status == "completed" and job.error is None and job.container_name == f"train-{job.id}"

    # The run is the one the platform created and recorded (job_run), and it holds what the code logged.
    with session_scope() as session:
        assert training_service.run_ids(session, job_id=job.id) == {job.mlflow_run_id} == {outcome["run_id"]}
    mlflow = tracking.client()
    run = mlflow.get_run(job.mlflow_run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["train_rows"] == 400
    assert run.data.tags[tracking.TAG_JOB] == str(job.id)
    assert tracking.run_model_versions(mlflow, job.model_name, job.mlflow_run_id) == ["1"]
    assert client.custom_jobs.get(job.id).status == "completed"
    # The runs API serves custom jobs too: their run, and the model their code logged (wherever it put it).
    listed = runs.list_runs(actor=team["admin"], job_id=job.id)
    assert [r["run_id"] for r in listed] == [job.mlflow_run_id] and listed[0]["status"] == "FINISHED"
    download = runs.download_model(actor=team["admin"], job_id=job.id, run_id=job.mlflow_run_id)
    with zipfile.ZipFile(io.BytesIO(b"".join(download.chunks))) as zf:
        assert "MLmodel" in zf.namelist() and zf.testzip() is None

    with session_scope() as session:
        serving = serving_service.create_serving(
            session, actor=team["admin"], team_id=team["team_id"], name="byo-live", train_job_id=job.id
        )
    try:
        assert serving_start(serving.id)["url"].endswith("/predict")
        test = series(100, 2)
        payload = {"data": [{"timestamp": t, "value": float(v)} for t, v in zip(test.timestamp, test.value)]}
        answer = predict(actor=team["admin"], serving_id=serving.id, payload=payload)
        results = answer["results"]
        assert len(results) == 100 and answer["metadata"]["count"] == 100
        assert all({"timestamp", "label", "score", "severity"} <= set(r) for r in results)
        spike = int(test["label"].to_numpy().argmax())
        assert results[spike]["label"] == 1 and results[spike]["severity"] == "high", results[spike]
        assert sum(r["label"] for r in results) <= 5
        with session_scope() as session:
            served = serving_service.get_serving(session, actor=team["admin"], serving_id=serving.id)
            assert served.resolved_version == "1"
    finally:
        serving_delete(serving.id)


def test_custom_job_failures_say_why(team: dict[str, Any]) -> None:
    from flows.training import train
    from infra import tracking

    client = team["client"]
    failing = client.custom_jobs.create(
        "byo-exit", team["release_id"], "python:3.12", ["python", "-c", EXIT_1]
    )
    outcome = train(failing.id)
    job = job_row(failing.id)
    assert outcome["status"] == "failed" and job.status == "failed"
    assert job.error == "container failed with exit code 1", job.error
    assert "custom-fail: giving up" in (job.log_tail or "")
    assert tracking.get_run(tracking.client(), job.mlflow_run_id).status == "FAILED"

    nothing = client.custom_jobs.create(
        "byo-nomodel", team["release_id"], "python:3.12", ["python", "-c", NO_MODEL]
    )
    outcome = train(nothing.id)
    job = job_row(nothing.id)
    assert outcome["status"] == "failed" and job.status == "failed"
    assert job.error.startswith(
        f"the command exited with code 0 but registered no version of model {job.model_name!r}"
    ), job.error
    assert "$MLOPS_MODEL_NAME" in job.error and "custom-nomodel: done" in (job.log_tail or "")
    # The code ended its run FINISHED itself; the job failed all the same.
    assert tracking.get_run(tracking.client(), job.mlflow_run_id).status == "FINISHED"

    # A failed custom job starts again, into a new run.
    first_run = job.mlflow_run_id
    assert train(nothing.id)["status"] == "failed"
    assert job_row(nothing.id).mlflow_run_id != first_run


def test_the_cli_creates_custom_jobs(team: dict[str, Any], api_server: Any, tmp_path: Path) -> None:
    import subprocess
    import sys

    from typer.testing import CliRunner

    from cli.main import app

    argv = ["jobs", "create-custom", "byo-cli", "-r", str(team["release_id"]), "--image", "python:3.12"]
    result = CliRunner().invoke(
        app, [*argv, "-e", "A=1", "-e", "B=two", "--memory", "1Gi", "--json", "--", "python", "-c", "pass"]
    )
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)
    assert row["kind"] == "custom" and row["command"] == ["python", "-c", "pass"]
    assert row["env"] == {"A": "1", "B": "two"} and row["memory_limit_mb"] == 1024

    # From a machine with no catalog access: only the server's URL and a token.
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "MLOPS_TOKEN": api_server.operator_token,
    }

    def mlops(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli", "--server", api_server.url, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    done = mlops(*argv[:2], "byo-remote", *argv[3:], "--json", "--", "python", "train.py")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["name"] == "byo-remote"
    again = mlops(*argv[:2], "byo-remote", *argv[3:], "--", "python", "train.py")
    assert again.returncode == 3 and "already exists" in again.stderr
    bad = mlops(*argv[:2], "byo-bad", *argv[3:], "-e", "MLFLOW_RUN_ID=x", "--", "python")
    assert bad.returncode == 1 and "MLFLOW_RUN_ID is the platform's" in bad.stderr, bad.stderr
    noenv = mlops(*argv[:2], "byo-bad", *argv[3:], "-e", "NOVALUE", "--", "python")
    assert noenv.returncode == 1 and "NAME=VALUE" in noenv.stderr


def _jobs_and_configs() -> tuple[int, list[str]]:
    from sqlmodel import func, select

    from catalog.db import session_scope
    from catalog.models import TrainJob
    from infra.objectstore import ObjectStore
    from infra.settings import get_settings

    with session_scope() as session:
        count = session.exec(select(func.count()).select_from(TrainJob)).one()
    return int(count), [o.key for o in ObjectStore.from_settings(get_settings().s3).list("jobs/")]


@pytest.mark.platform_servers("s3")
def test_the_api_refuses_bad_specs_and_foreign_rows(api_server: Any, platform_admin: str) -> None:
    import httpx

    from catalog.db import session_scope
    from catalog.services.teams import actor_for
    from infra.settings import get_settings
    from mlops_lite.client import Client, InvalidRequest, NotFound

    with session_scope() as session:
        admin = actor_for(session, username=get_settings().platform.admin_username)
    team_id = min(admin.team_ids)
    release_id = add_release(team_id)
    good = {"name": "j", "release_id": release_id, "image": "python:3.12", "command": ["python", "t.py"]}
    headers = {"Authorization": f"Bearer {api_server.operator_token}"}
    url = f"{api_server.url}/api/v1/jobs/custom"
    before = _jobs_and_configs()
    huge = "y" * 200_000
    for changes, words in (
        ({"image": "Not/An Image"}, "image: "),
        ({"command": []}, "command: "),
        ({"command": "python t.py"}, "command: "),
        ({"command": ["python", "z" * 20_000]}, "argument 1 has 20000 characters"),
        ({"env": {"MLOPS_MODEL_NAME": "mine"}}, "MLOPS_MODEL_NAME is the platform's"),
        ({"env": {"OK": huge[:20_000]}}, "the value of OK has 20000 characters"),
        ({"cpu_limit": 0}, "cpu_limit: "),
        ({"memory_limit_mb": 1}, "memory_limit_mb: "),
        ({"gpus": 1}, "gpus: unknown field"),
        ({"release_id": "seven"}, "release_id: "),
        ({"name": "no/slashes"}, "job name"),
    ):
        answer = httpx.post(url, json={**good, **changes}, headers=headers, timeout=30)
        error = answer.json()["error"]
        assert answer.status_code == 422 and error["code"] == "validation_error", answer.text
        assert words in error["message"], error["message"]
        assert "z" * 200 not in error["message"] and "y" * 200 not in error["message"]
    assert (
        httpx.post(url, content=b"{", headers={**headers, "Content-Type": "application/json"}).status_code
        == 422
    )
    # The SDK refuses before sending, in the same words.
    client = api_server.client()
    with pytest.raises(InvalidRequest, match="MLFLOW_RUN_ID is the platform's"):
        client.custom_jobs.create("j", release_id, "python:3.12", ["python"], env={"MLFLOW_RUN_ID": "x"})
    with pytest.raises(InvalidRequest, match="not a size"):
        client.custom_jobs.create("j", release_id, "python:3.12", ["python"], memory="lots")
    assert _jobs_and_configs() == before

    # Another team's release, or job, reads exactly like a missing one; mallory is in no team.
    mallory, _ = Client.login(api_server.url, "mallory", "mallory-pass")
    with pytest.raises(InvalidRequest, match="no team"):
        mallory.custom_jobs.create("j", release_id, "python:3.12", ["python"])
    with pytest.raises(NotFound):
        mallory.custom_jobs.create("j", release_id, "python:3.12", ["python"], team_id=team_id)
    created = client.custom_jobs.create("visible", release_id, "python:3.12", ["python", "t.py"])
    for ident in (created.id, 987654):
        with pytest.raises(NotFound) as err:
            mallory.custom_jobs.get(ident)
        assert str(err.value) == f"training job {ident} not found"
    from tests.flows.training_support import Seeded, create_job

    preset = create_job(Seeded(admin=admin, team_id=team_id, release_id=release_id), "a-preset")
    with pytest.raises(NotFound, match="custom training job"):
        client.custom_jobs.get(preset)
    assert _jobs_and_configs()[0] == before[0] + 2


@pytest.mark.docker
def test_custom_job_on_docker(
    platform_env: Any,
    docker_engine: Any,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same script in a Docker container of the test image (Debian + python3): the release streamed into
    /mlops/input before the start, the project's venv bind-mounted as the image's (MLOPS_RUNTIME_DOCKER_MOUNTS,
    configuration only) and named by its path in the command, since a user's ``python`` is the image's own."""
    import sys

    from flows.training import train
    from infra import tracking
    from infra.runtime.registry import get_runtime
    from tests.flows.test_training_docker import use_docker
    from tests.flows.training_support import seed_catalog

    use_docker(docker_engine, tmp_path, monkeypatch)
    set_training(monkeypatch, poll_seconds=0.5)
    seeded = seed_catalog()
    from catalog.db import session_scope
    from catalog.services.custom_jobs import create_custom_job

    venv_python = str(Path(sys.prefix).resolve() / "bin" / "python")
    script = TRAIN.replace(
        'print("custom-train: release at"',
        "assert path == '/mlops/input/release.zip', path\nprint(\"custom-train: release at\"",
    )
    with session_scope() as session:
        job, _ = create_custom_job(
            session,
            actor=seeded.admin,
            team_id=seeded.team_id,
            name="byo-docker",
            release_id=seeded.release_id,
            image=docker_engine.image,
            command=[venv_python, "-c", script],
            env={"GREETING": "hello from the job's env"},
            memory_limit_mb=2048,
        )
        job_id = int(job.id)
    runtime = get_runtime()
    assert runtime.name == "docker"
    name = f"train-{job_id}"
    try:
        outcome = train(job_id)
        row = job_row(job_id)
        assert outcome["status"] == "completed", (row.error, row.log_tail, runtime.logs(name, tail=40))
        status = runtime.status([name])[name]
        assert status.exit_code == 0 and status.labels.get("job-kind") == "custom"
        assert "custom-train: registered" in runtime.logs(name)
        assert tracking.run_model_versions(tracking.client(), row.model_name, row.mlflow_run_id) == ["1"]
    finally:
        runtime.remove(name, force=True)
