"""The `mlops` CLI on real servers: the skeleton path scripted with --json, errors as one clear line. The commands
converted to API clients (`mlops jobs`, `mlops datasets`) talk to a live API server, which runs flows inline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.flows.test_walking_skeleton import make_series

pytestmark = pytest.mark.slow


@pytest.fixture
def cli(platform_env, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    from infra.settings import reset_settings

    monkeypatch.setenv("MLOPS_PREFECT_RUN_MODE", "inline")
    monkeypatch.setenv("MLOPS_TRAIN_POLL_SECONDS", "0.5")
    monkeypatch.setenv("MLOPS_ADMIN_PASSWORD", "cli-admin-pass")
    reset_settings()
    # Started after the settings above: the API server inherits them (it runs the flows it launches inline).
    request.getfixturevalue("api_server")
    from cli.main import app

    runner = CliRunner()

    def run(*args: str, ok: bool = True) -> object:
        result = runner.invoke(app, list(args))
        if ok:
            assert result.exit_code == 0, f"mlops {' '.join(args)} → {result.exit_code}: {result.output}"
        return result

    return run


def as_json(result: object) -> object:
    return json.loads(result.output)  # type: ignore[attr-defined]


def test_cli_scripts_the_whole_path(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # The API server's fixture initialised the catalog already (its first run: tests/catalog/test_teams.py).
    again = as_json(cli("init", "--json"))
    assert again["admin_created"] is False and not again["presets"]["created"]

    algos = as_json(cli("algorithms", "list", "--json"))
    assert {"ECOD", "Prophet", "Spell", "YOLODetection"} <= {a["name"] for a in algos}

    ds = as_json(cli("datasets", "create", "cpu", "--scenario", "anomaly_detection", "--json"))
    train_csv = make_series(tmp_path / "train.csv", n=800, seed=3, anomalies=[10], jump=6.0)
    test_csv = make_series(tmp_path / "test.csv", n=200, seed=4, anomalies=[100], jump=12.0)
    cli("datasets", "upload", str(ds["id"]), str(train_csv))
    cli("datasets", "upload", str(ds["id"]), str(test_csv), "--no-train", "--test")
    release = as_json(cli("datasets", "publish", str(ds["id"]), "--json"))
    assert release["status"] == "published" and release["split_counts"] == {"train": 800, "test": 200}
    listed = as_json(cli("datasets", "list", "--json"))
    assert listed["count"] == 1

    zip_path = tmp_path / "r.zip"
    out = cli("datasets", "download", str(release["id"]), "-o", str(zip_path))
    assert "sha256 verified" in out.output and zip_path.stat().st_size == release["size_bytes"]

    job = as_json(
        cli(
            "jobs",
            "create",
            "ecod",
            "-s",
            "anomaly_detection",
            "-a",
            "ECOD",
            "--release",
            str(release["id"]),
            "--params",
            '{"contamination": 0.01}',
            "--json",
        )
    )
    assert job["status"] == "created" and job["params"]["contamination"] == 0.01
    started = as_json(cli("jobs", "start", str(job["id"]), "--wait", "--json"))
    assert started["status"] == "completed", started
    runs = as_json(cli("jobs", "runs", str(job["id"]), "--json"))
    assert len(runs) == 1 and runs[0]["status"] == "FINISHED" and "f1" in runs[0]["metrics"]

    serving = as_json(cli("servings", "create", "live", "--job", str(job["id"]), "--json"))
    assert serving["observed_state"] == "running", serving
    body = tmp_path / "req.json"
    body.write_text(
        json.dumps(
            {
                "data": [
                    {"timestamp": "2024-01-01T00:00:00", "value": 10.0},
                    {"timestamp": "2024-01-01T00:01:00", "value": 99.0},
                ]
            }
        )
    )
    answer = as_json(cli("predict", str(serving["id"]), "--file", str(body)))
    assert [r["label"] for r in answer["results"]] == [0, 1]
    predicted_csv = as_json(cli("predict", str(serving["id"]), "--file", str(test_csv)))
    assert predicted_csv["metadata"]["count"] == 200

    stopped = as_json(cli("servings", "stop", str(serving["id"]), "--json"))
    assert stopped["desired_state"] == "stopped" and stopped["observed_state"] == "not_found"
    as_json(cli("servings", "delete", str(serving["id"]), "--json"))
    missing = cli("servings", "status", str(serving["id"]), ok=False)
    assert missing.exit_code == 1 and "not found" in missing.output


def test_cli_errors_are_one_clear_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("init", "--json")
    bad = cli("datasets", "create", "x", "--scenario", "nope", ok=False)
    assert bad.exit_code == 1 and "scenario: Input should be 'anomaly_detection'" in bad.output
    assert bad.output.count("\n") == 1 and "Traceback" not in bad.output
    ds = as_json(cli("datasets", "create", "cpu", "--scenario", "anomaly_detection", "--json"))
    broken = tmp_path / "broken.csv"
    broken.write_text("timestamp,value\n2024-01-01,1\n2024-01-02,abc\n")
    res = cli("datasets", "upload", str(ds["id"]), str(broken), ok=False)
    assert res.exit_code == 1 and "row 3, column 'value'" in res.output
    shown = as_json(cli("datasets", "show", str(ds["id"]), "--json"))
    assert shown["entries"] == [], "a refused upload must store nothing"
    from infra.objectstore import ObjectStore
    from infra.settings import get_settings

    assert list(ObjectStore.from_settings(get_settings().s3).list(f"datasets/{ds['id']}/")) == []
    empty = cli("datasets", "publish", str(ds["id"]), ok=False)
    assert "at least one entry flagged train" in empty.output


def test_flow_refusing_the_work_is_a_conflict(cli) -> None:  # type: ignore[no-untyped-def]
    from tests.flows.training_support import create_job, job_row, seed_catalog

    job_id = create_job(seed_catalog(), "refused")
    cli("algorithms", "disable", "anomaly_detection", "ECOD")
    refused = cli("jobs", "start", str(job_id), "--json", ok=False)
    # The train flow (inline here) refuses the claim: exit code 3, the flow's reason as the one line.
    assert refused.exit_code == 3, refused.output
    assert "error: algorithm 'ECOD' is disabled; training job 'refused' cannot start" in refused.output
    assert "Traceback" not in refused.output
    assert job_row(job_id).status == "created"
