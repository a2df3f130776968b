"""`mlops jobs` run commands on real servers: runs, params, metrics, download-model, delete/restore-run,
update (new config revision, old object deleted after commit), and a forged run id as one clear error."""

from __future__ import annotations

import json
import uuid
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.flows.training_support import create_job, seed_catalog, set_training

pytestmark = pytest.mark.slow


def test_jobs_run_commands(platform_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MLOPS_MLFLOW_EXPERIMENT_PREFIX", f"t{uuid.uuid4().hex[:10]}")
    monkeypatch.setenv("MLOPS_PREFECT_RUN_MODE", "inline")
    set_training(monkeypatch, poll_seconds=0.3)
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
