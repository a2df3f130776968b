"""`mlops models ...` through a live API server (the SDK's ``client.models`` underneath): a model named by name
(``--team`` when two teams have one) or id, jobs and servings naming it, the gate shown, set and cleared,
versions, a decision's evaluation and history, lineage both ways as JSON, and bad requests as one clear line
with its exit code. A promotion followed to its decision (`promote --wait`'s exit codes) needs the gate's flow:
tests/api/test_models_flows.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.api.models_support import make_champion, record_version
from tests.catalog.isolation_world import add_run
from tests.flows.training_support import Seeded, seed_catalog

pytestmark = pytest.mark.slow


@pytest.fixture
def seeded(platform_env: Any, platform_admin: str) -> Seeded:
    return seed_catalog()


@pytest.fixture
def mlops(seeded: Seeded, api_server: Any) -> Any:
    from cli.main import app

    runner = CliRunner()

    def run(*args: str, code: int = 0) -> Any:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, f"mlops {' '.join(args)} → {result.exit_code}: {result.output}"
        return json.loads(result.output) if "--json" in args and code == 0 else result

    return run


def test_models_from_the_cli(seeded: Seeded, mlops: Any) -> None:
    from catalog.db import session_scope
    from catalog.scoping import SYSTEM
    from catalog.services import models, team_tree, teams

    release = str(seeded.release_id)
    made = mlops("models", "create", "detector", "-s", "anomaly_detection", "--description", "cpu", "--json")
    assert made["name"] == "detector" and made["champion_version"] is None
    job = mlops(
        "jobs", "create", "ecod", "-s", "anomaly_detection", "-a", "ECOD", "--release", release,
        "--model", "detector", "--auto-promote", "--json",
    )  # fmt: skip
    assert job["model_id"] == made["id"]
    assert mlops("jobs", "status", str(job["id"]), "--json")["auto_promote"] is True
    run = add_run(job["id"])
    record_version(job["id"], run, metrics={"f1": 0.8})
    record_version(job["id"], run, status="FAILED")

    # The same name in another team of the admin's: say which team.
    with session_scope() as session:
        other = team_tree.create_team(session, actor=SYSTEM, name="other")
        models.create_model(
            session, actor=SYSTEM, team_id=other.id, name="detector", scenario="anomaly_detection"
        )  # type: ignore[arg-type]
        teams.add_member(session, actor=SYSTEM, team_id=other.id, user_id=seeded.admin.user_id)  # type: ignore[arg-type]
    ambiguous = mlops("models", "show", "detector", code=3)
    assert "several of your teams have a model named 'detector': say which team" in ambiguous.output
    assert ambiguous.output.count("\n") == 1
    team = str(seeded.team_id)
    shown = mlops("models", "show", "detector", "--team", team, "--json")
    assert shown["id"] == made["id"] and shown["description"] == "cpu"
    assert mlops("models", "show", str(made["id"]), "--json")["name"] == "detector"
    listed = mlops("models", "list", "--team", team, "--json")
    assert listed["count"] == 1 and listed["items"][0]["id"] == made["id"]
    assert mlops("models", "list", "--search", "detect", "--json")["count"] == 2

    versions = mlops("models", "versions", "detector", "-t", team, "--json")
    assert [(v["version"], v["run_status"]) for v in versions["items"]] == [(2, "FAILED"), (1, "FINISHED")]

    # The gate: shown, set, cleared; another scenario's metric is one clear line, nothing changed.
    assert mlops("models", "gate", "detector", "-t", team, "--json")["gate_metric"] is None
    gate = mlops(
        "models", "gate", "detector", "-t", team, "--metric", "f1", "--threshold", "0.5",
        "--tolerance", "0.02", "--evaluation-release", release, "--json",
    )  # fmt: skip
    assert (gate["gate_metric"], gate["gate_threshold"], gate["gate_tolerance"]) == ("f1", 0.5, 0.02)
    assert gate["evaluation_release_id"] == seeded.release_id
    wrong = mlops("models", "gate", "detector", "-t", team, "--metric", "mape", code=1)
    assert (
        "'mape' is not a gate metric of anomaly_detection" in wrong.output and "Traceback" not in wrong.output
    )
    cleared = mlops("models", "gate", "detector", "-t", team, "--clear", "threshold", "--json")
    assert (cleared["gate_metric"], cleared["gate_threshold"]) == ("f1", None)
    assert (
        "--clear takes" in mlops("models", "gate", "detector", "-t", team, "--clear", "colour", code=1).output
    )

    # Bad requests to move an alias: one line, exit 1, nothing recorded.
    failed = mlops("models", "promote", "detector", "2", "-t", team, code=1)
    assert "ended FAILED: only a finished run's version can be promoted" in failed.output
    assert "no earlier champion" in mlops("models", "rollback", "detector", "-t", team, code=1).output
    assert mlops("models", "evaluations", "detector", "-t", team, "--json")["count"] == 0
    unset = mlops("models", "clear-alias", "detector", "challenger", "-t", team, "--json")
    assert unset["challenger_version"] is None and unset["flow_run"] is None

    # A decision of the gate, its evaluation and the history of the alias it moved.
    evaluation_id = make_champion(made["id"], 1)
    evaluations = mlops("models", "evaluations", "detector", "-t", team, "--json")
    assert [(e["id"], e["status"]) for e in evaluations["items"]] == [(evaluation_id, "promoted")]
    assert mlops("models", "evaluation", str(evaluation_id), "--json")["reason"] == "v1 passed"
    history = mlops("models", "history", "detector", "-t", team, "--json")
    assert [(h["alias"], h["version"], h["cause"]) for h in history] == [("champion", 1, "promotion")]

    # Lineage both ways.
    lineage = mlops("models", "lineage", "detector", "1", "-t", team, "--json")
    assert lineage["aliases"] == ["champion"] and lineage["run"]["id"] == run
    assert lineage["job"]["name"] == "ecod" and lineage["release"]["id"] == seeded.release_id
    assert "sha256" in mlops("models", "lineage", str(made["id"]), "1").output
    reverse = mlops("models", "release-lineage", release, "--json")
    assert [(v["model"]["name"], v["version"]) for v in reverse["versions"]] == [
        ("detector", 1),
        ("detector", 2),
    ]

    # A serving follows the model's champion (named by the model, in its team).
    serving = mlops(
        "servings", "create", "live", "--model", "detector", "-t", team, "--version", "champion", "--no-start",
        "--json",
    )  # fmt: skip
    assert (serving["model_id"], serving["model_version"], serving["train_job_id"]) == (
        made["id"],
        "champion",
        None,
    )
    neither = mlops("servings", "create", "nothing", "--no-start", code=1)
    assert "give --job or --model (one of them)" in neither.output
