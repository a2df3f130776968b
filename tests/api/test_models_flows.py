"""The model edges with the flows behind them (`promote-model` and `model-aliases-moved`, flows/models.py), on the
flow runner as `mlops up` runs it, with ECOD versions trained for real: a promotion through the API answers 202
with the pending evaluation and the gate's flow run, and its decision is then visible (GET /evaluations/{id});
`mlops models promote --wait` exits 6 on a rejection (the reason on stderr) and 0 on a promotion; a rollback and
an alias set by hand are recorded at once and their flow run completes, MLflow's alias following.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.flows.training_support import Seeded, seed_catalog, set_training, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.platform_servers("s3", "mlflow", "prefect")]

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@pytest.fixture
def seeded(platform_env: Any, platform_admin: str, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    set_training(monkeypatch, poll_seconds=0.3)
    return seed_catalog()


def _flow_state(flow_run_id: str | None) -> str | None:
    from flows.launch import read_flow_run

    assert flow_run_id
    return read_flow_run(flow_run_id).state


def _completed(flow_run_id: str | None) -> None:
    state = wait_for(
        lambda: (s := _flow_state(flow_run_id)) in FINAL and s, timeout=300, what=f"flow run {flow_run_id}"
    )
    assert state == "COMPLETED", state


def _train(client: Any, name: str, release_id: int) -> Any:
    job = client.jobs.create(
        name,
        scenario="anomaly_detection",
        algorithm="ECOD",
        release_id=release_id,
        params={"contamination": 0.01},
        model="detector",
    )
    job.start()
    done = job.wait(timeout=600, poll=0.5)
    assert done.status == "completed", done.error
    return done


def test_promotions_rollbacks_and_aliases_through_their_flows(
    seeded: Seeded, api_server: Any, flow_runner: Any, mlops_cli: Any
) -> None:
    flow_runner.start()
    with api_server.client() as client:
        detector = client.models.create("detector", "anomaly_detection")
        client.models.configure_gate(detector.id, metric="f1", evaluation_release_id=seeded.release_id)
        for name in ("ecod-1", "ecod-2"):
            _train(client, name, seeded.release_id)
        wait_for(
            lambda: client.models.versions(detector.id).total == 2, timeout=120, what="both versions recorded"
        )

        # 202: the evaluation, pending, and the gate's flow run; then the decision, visible through the API.
        asked = client.models.promote(detector.id, 1)
        assert asked.evaluation.status in ("pending", "running") and asked.evaluation.version == 1
        assert asked.launch.flow_run_id
        decided = client.models.wait_evaluation(asked.evaluation.id, timeout=600)
        assert decided.status == "promoted", decided.reason
        assert decided.flow_run_id == asked.launch.flow_run_id and decided.candidate_value is not None
        assert client.models.get(detector.id).champion_version == 1

        # `promote --wait`: a rejection is exit code 6 with the reason, a promotion 0.
        client.models.configure_gate(detector.id, threshold=1.5)  # no F1 reaches it
        rejected = mlops_cli("models", "promote", "detector", "2", "--wait", "--json", timeout=900)
        assert rejected.returncode == 6, rejected.stdout + rejected.stderr
        assert json.loads(rejected.stdout)["status"] == "rejected"
        assert "was rejected: f1" in rejected.stderr and "below the threshold 1.5" in rejected.stderr
        assert client.models.get(detector.id).champion_version == 1, "a rejection moves nothing"
        client.models.configure_gate(detector.id, threshold=None)
        promoted = mlops_cli("models", "promote", "detector", "2", "--wait", "--json", timeout=900)
        assert promoted.returncode == 0, promoted.stdout + promoted.stderr
        assert json.loads(promoted.stdout)["status"] == "promoted"
        assert client.models.get(detector.id).champion_version == 2

        # A rollback and an alias set by hand: recorded at once, their flow run completes, MLflow follows.
        back = client.models.rollback(detector.id)
        assert back.model.champion_version == 1 and back.launch is not None
        _completed(back.launch.flow_run_id)
        challenger = client.models.set_alias(detector.id, "challenger", 2)
        assert challenger.model.challenger_version == 2 and challenger.launch is not None
        _completed(challenger.launch.flow_run_id)
        moves = client.models.alias_history(detector.id)
        assert [(m.alias, m.version, m.cause) for m in moves] == [
            ("champion", 1, "promotion"),
            ("champion", 2, "promotion"),
            ("champion", 1, "rollback"),
            ("challenger", 2, "manual"),
        ]
        from infra import tracking

        mlflow = tracking.client()
        name = client.models.get(detector.id).mlflow_name
        assert wait_for(
            lambda: mlflow.get_model_version_by_alias(name, "champion").version == "1",
            timeout=60,
            what="MLflow's champion alias rolled back",
        )
        assert mlflow.get_model_version_by_alias(name, "challenger").version == "2"
