"""`mlops jobs` run commands through a live API server on real servers: runs, params, metrics, download-model,
delete/restore-run, update (new config revision, old object deleted after commit), a forged run id as one clear
error, and the same commands from a machine with no catalog access (`mlops --server URL` with a token only).

The API server runs flows inline (MLOPS_PREFECT_RUN_MODE=inline in its environment): `jobs start --wait`'s
request trains the job in the API process before it answers, and the CLI follows it through the API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.flows.training_support import create_job, seed_catalog, set_training

pytestmark = pytest.mark.slow


@pytest.fixture
def inline_api(platform_env: Any, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Any:
    """The API server, started once the environment it inherits says how to run flows and trainings."""
    monkeypatch.setenv("MLOPS_MLFLOW_EXPERIMENT_PREFIX", f"t{uuid.uuid4().hex[:10]}")
    monkeypatch.setenv("MLOPS_PREFECT_RUN_MODE", "inline")
    set_training(monkeypatch, poll_seconds=0.3)
    return request.getfixturevalue("api_server")


def test_jobs_run_commands(platform_env, inline_api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    seeded = seed_catalog()
    job_id = str(create_job(seeded, "cli-job"))
    from cli.main import app
    from infra.objectstore import ObjectStore

    runner = CliRunner()

    def run(*args: str, ok: bool = True):  # type: ignore[no-untyped-def]
        result = runner.invoke(app, ["jobs", *args])
        if ok:
            assert result.exit_code == 0, f"mlops jobs {' '.join(args)} → {result.exit_code}: {result.output}"
        return result

    store = ObjectStore.from_settings(platform_env.s3)
    before = json.loads(run("status", job_id, "--json").output)["config_key"]
    updated = json.loads(run("update", job_id, "--params", '{"contamination": 0.02}', "--json").output)
    assert updated["params"]["contamination"] == 0.02 and updated["config_key"] != before
    assert store.exists(updated["config_key"]) and not store.exists(before)

    started = json.loads(run("start", job_id, "--wait", "--json").output)
    assert started["status"] == "completed", started
    listed = json.loads(run("runs", job_id, "--json").output)
    assert len(listed) == 1 and listed[0]["status"] == "FINISHED" and listed[0]["start_time"].startswith("20")
    run_id = listed[0]["run_id"]
    params = json.loads(run("params", job_id, run_id, "--json").output)
    assert params["contamination"] == "0.02"
    history = json.loads(run("metrics", job_id, run_id, "--json").output)
    assert history and all(p and {"step", "value"} <= set(p[0]) for p in history.values())

    target = tmp_path / "model.zip"
    got = json.loads(run("download-model", job_id, run_id, "-o", str(target), "--json").output)
    assert got["bytes"] == target.stat().st_size
    with zipfile.ZipFile(target) as zf:
        assert "MLmodel" in zf.namelist()

    run("delete-run", job_id, run_id, "--json")
    assert json.loads(run("runs", job_id, "--json").output) == []
    run("restore-run", job_id, run_id, "--json")
    assert len(json.loads(run("runs", job_id, "--json").output)) == 1

    forged = run("params", job_id, uuid.uuid4().hex, ok=False)
    assert forged.exit_code != 0 and "not found" in forged.output and "Traceback" not in forged.output

    # From any machine: no database, no object store credentials, only the server's address and a token.
    bare = {key: os.environ[key] for key in ("PATH", "PYTHONPATH", "XDG_CONFIG_HOME") if key in os.environ}
    bare.update(HOME=str(tmp_path / "home"), MLOPS_TOKEN=inline_api.operator_token)  # a home of its own

    def remote(*args: str, code: int = 0) -> Any:
        done = subprocess.run(
            [sys.executable, "-m", "cli", "--server", inline_api.url, "jobs", *args, "--json"],
            env=bare,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == code, (args, done.stdout, done.stderr)
        return json.loads(done.stdout) if code == 0 else done.stderr

    assert [j["id"] for j in remote("list", "--search", "cli-")["items"]] == [int(job_id)]
    assert remote("status", job_id)["algorithm"] == "ECOD"
    assert [r["run_id"] for r in remote("runs", job_id)] == [run_id]
    fetched = remote("download-model", job_id, run_id)
    assert Path(fetched["path"]).parent == tmp_path and fetched["bytes"] == target.stat().st_size
    release = ("-s", "anomaly_detection", "-a", "ECOD", "--release", str(seeded.release_id))
    refused = remote("create", "remote-job", *release, "--params", '{"contamination": 7}', code=1)
    assert refused.startswith("error: ") and "contamination" in refused and refused.count("\n") == 1
    created = remote("create", "remote-job", *release, "--params", '{"contamination": 0.05}')
    assert created["status"] == "created" and created["params"]["contamination"] == 0.05
    assert created["config_key"] and store.exists(created["config_key"])
    taken = remote("create", "remote-job", *release, code=3)  # the name is taken: a conflict
    assert "already exists" in taken
