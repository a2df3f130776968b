"""Models through a live API server and the SDK: models made and found, jobs (preset and custom) feeding a model
named by name or id (another scenario's or an unknown one refused, nothing stored), versions as the training flow
records them, the promotion gate configured (another scenario's metric refused, nothing changed), promotions,
rollbacks and aliases refused on bad input before anything is recorded or launched, a decision of the gate, alias
history, lineage both ways, servings of a model following an alias; and with the Prefect server down, nothing
recorded that no flow could act on.

The gate's flow itself (a promotion decided, `promote --wait`'s exit codes, the launches of rollbacks and aliases
set by hand) is tests/api/test_models_flows.py's; here its decision is recorded through the gate's own service
calls (tests/api/models_support.py).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from infra.settings import reset_settings
from mlops_lite.client import Conflict, InvalidRequest, NotFound, Unavailable
from tests.api.models_support import make_champion, model_of, record_version
from tests.catalog.isolation_world import add_run
from tests.flows.training_support import Seeded, create_job, seed_catalog


@pytest.fixture
def seeded(platform_env: Any, platform_admin: str, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    # Custom jobs run on the process runtime here, refused unless told (set before the API server starts).
    monkeypatch.setenv("MLOPS_TRAIN_CUSTOM_JOBS_ON_PROCESS", "true")
    reset_settings()
    return seed_catalog()


def _send(api_server: Any, method: str, path: str, body: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {api_server.operator_token}"}
    return httpx.request(method, f"{api_server.url}/api/v1{path}", headers=headers, json=body, timeout=60)


def _release_sha256(release_id: int) -> str | None:
    from catalog.db import session_scope
    from catalog.models import DatasetRelease

    with session_scope() as session:
        release = session.get(DatasetRelease, release_id)
        assert release is not None
        return release.sha256


@pytest.mark.platform_servers("s3", "mlflow", "prefect")
def test_models_versions_gate_decisions_and_lineage(seeded: Seeded, api_server: Any) -> None:
    scn, release = "anomaly_detection", seeded.release_id
    with api_server.client() as client:
        detector = client.models.create("detector", scn, description="cpu anomalies")
        assert (detector.team_id, detector.champion_version, detector.gate_tolerance) == (
            seeded.team_id,
            None,
            0,
        )
        assert detector.mlflow_name.endswith(f"-model{detector.id}-detector")
        with pytest.raises(Conflict, match="a model named 'detector' already exists in this team"):
            client.models.create("detector", scn)
        forecaster = client.models.create("forecaster", "timeseries_predict")

        # Jobs feed a model named by name or id; by default the model named after the job.
        job = client.jobs.create(
            "ecod-a", scenario=scn, algorithm="ECOD", release_id=release, model="detector"
        )
        assert (job.model_id, job.model_name, job.auto_promote) == (detector.id, detector.mlflow_name, False)
        by_id = client.jobs.create(
            "ecod-b", scenario=scn, algorithm="ECOD", release_id=release, model=detector.id, auto_promote=True
        )
        assert (by_id.model_id, by_id.auto_promote) == (detector.id, True)
        alone = client.jobs.create("ecod-alone", scenario=scn, algorithm="ECOD", release_id=release)
        assert client.models.get(alone.model_id).name == "ecod-alone"
        with pytest.raises(InvalidRequest, match="model 'forecaster' is a timeseries_predict model, the job"):
            client.jobs.create(
                "wrong", scenario=scn, algorithm="ECOD", release_id=release, model="forecaster"
            )
        with pytest.raises(NotFound, match="model 'nope' not found"):
            client.jobs.create("wrong", scenario=scn, algorithm="ECOD", release_id=release, model="nope")
        assert client.jobs.page(search="wrong").total == 0, "a refused job stores nothing"
        custom = client.custom_jobs.create(
            "byo", release, "python:3.12", ["python", "-V"], model="detector", auto_promote=True
        )
        assert (custom.model_id, custom.auto_promote, custom.model_name) == (
            detector.id,
            True,
            detector.mlflow_name,
        )

        # Lists: newest first, filtered and searched as the others; a name is found exactly.
        assert [m.name for m in client.models.list(scenario=scn)] == ["ecod-alone", "detector"]
        assert [m.id for m in client.models.list(search="cast")] == [forecaster.id]
        assert client.models.page(team_id=seeded.team_id, limit=1).total == 3
        assert client.models.find("detector").id == detector.id
        with pytest.raises(NotFound, match="model 'detect' not found"):
            client.models.find("detect")

        # Versions, as the training flow records what each run registered.
        run_a, run_b = add_run(job.id), add_run(by_id.id)
        assert record_version(job.id, run_a, metrics={"f1": 0.7}) == 1
        assert record_version(by_id.id, run_b, metrics={"f1": 0.9}) == 2
        assert record_version(job.id, add_run(job.id), status="FAILED") == 3
        versions = client.models.versions(detector.id)
        assert versions.total == 3 and [v.version for v in versions.items] == [3, 2, 1]
        assert (versions.items[1].job_id, versions.items[1].run_id, versions.items[1].metrics) == (
            by_id.id,
            run_b,
            {"f1": 0.9},
        )
        assert client.models.versions(detector.id, offset=2, limit=1).items[0].version == 1
        assert client.models.version(detector.id, 1).release_id == release
        with pytest.raises(NotFound, match="version of model 'detector' 9 not found"):
            client.models.version(detector.id, 9)

        # The gate: metric, threshold, tolerance, evaluation release; null clears; another scenario's metric no.
        gate = client.models.configure_gate(
            detector.id, metric="f1", threshold=0.5, tolerance=0.01, evaluation_release_id=release
        )
        assert (gate.gate_metric, gate.gate_threshold, gate.gate_tolerance, gate.evaluation_release_id) == (
            "f1",
            0.5,
            0.01,
            release,
        )
        with pytest.raises(
            InvalidRequest, match="'mape' is not a gate metric of anomaly_detection; its metrics"
        ):
            client.models.configure_gate(detector.id, metric="mape", threshold=0.1)
        assert client.models.get(detector.id).gate_threshold == 0.5, "a refused change changes nothing"
        cleared = client.models.configure_gate(detector.id, threshold=None, description="now gated")
        assert (cleared.gate_threshold, cleared.gate_metric, cleared.description) == (None, "f1", "now gated")
        negative = _send(api_server, "PATCH", f"/models/{detector.id}", {"tolerance": -1})
        assert negative.status_code == 422 and "tolerance" in negative.json()["error"]["message"]

        # Bad requests to move an alias: refused before anything is recorded or launched.
        with pytest.raises(NotFound, match="version of model 'detector' 9 not found"):
            client.models.promote(detector.id, 9)
        with pytest.raises(
            InvalidRequest, match="ended FAILED: only a finished run's version can be promoted"
        ):
            client.models.promote(detector.id, 3)
        with pytest.raises(NotFound, match="model 987654 not found"):
            client.models.promote(987654, 1)
        assert client.models.evaluations(detector.id).total == 0
        with pytest.raises(InvalidRequest, match="has no earlier champion to roll back to"):
            client.models.rollback(detector.id)
        with pytest.raises(InvalidRequest, match="comes from a run that ended FAILED"):
            client.models.set_alias(detector.id, "challenger", 3)
        unchanged = client.models.clear_alias(detector.id, "challenger")
        assert unchanged.launch is None and unchanged.model.alias_revision == 0, (
            "nothing moved, nothing launched"
        )
        no_alias = _send(api_server, "PUT", f"/models/{detector.id}/aliases/chief", {"version": 1})
        assert no_alias.status_code == 404, "an alias that is none matches nothing"
        assert client.models.alias_history(detector.id) == []

        # A decision of the gate (recorded through its service calls).
        evaluation_id = make_champion(detector.id, 2)
        shown = client.models.evaluation(evaluation_id)
        assert (shown.status, shown.version, shown.reason, shown.release_id) == (
            "promoted",
            2,
            "v2 passed",
            release,
        )
        assert [e.id for e in client.models.evaluations(detector.id).items] == [evaluation_id]
        assert client.models.get(detector.id).champion_version == 2
        assert [v.aliases for v in client.models.versions(detector.id).items] == [[], ["champion"], []]
        moves = client.models.alias_history(detector.id)
        assert [(m.alias, m.version, m.previous_version, m.cause, m.evaluation_id) for m in moves] == [
            ("champion", 2, None, "promotion", evaluation_id)
        ]
        with pytest.raises(InvalidRequest, match="version 2 is already the champion of 'detector'"):
            client.models.promote(detector.id, 2)

        # Lineage, both ways.
        lineage = client.models.lineage(detector.id, 2)
        assert (lineage.model.name, lineage.version, lineage.aliases) == ("detector", 2, ["champion"])
        assert (lineage.run.id, lineage.run.status, lineage.run.metrics) == (run_b, "FINISHED", {"f1": 0.9})
        assert lineage.job is not None and (lineage.job.name, lineage.job.algorithm) == ("ecod-b", "ECOD")
        assert lineage.release is not None and lineage.release.dataset is not None
        assert (lineage.release.id, lineage.release.version, lineage.release.dataset.name) == (
            release,
            "v1",
            "cpu",
        )
        assert lineage.release.sha256 == _release_sha256(release)
        assert [e.id for e in lineage.evaluations] == [evaluation_id]
        reverse = client.models.release_lineage(release)
        assert sorted((v.model.name, v.version, v.job_id) for v in reverse.versions) == [
            ("detector", 1, job.id),
            ("detector", 2, by_id.id),
            ("detector", 3, job.id),
        ]

        # Servings serve a model's version, or follow an alias it has.
        with pytest.raises(InvalidRequest, match="model 'detector' has no challenger yet"):
            client.servings.create("follow", model_id=detector.id, model_version="challenger", start=False)
        follows = client.servings.create(
            "follow", model_id=detector.id, model_version="champion", start=False
        )
        assert (follows.serving.model_id, follows.serving.train_job_id) == (detector.id, None)
        assert follows.serving.model_version == "champion" and follows.launch is None
        pinned = client.servings.create("pinned", job.id, model_version="1", start=False).serving
        assert (pinned.model_id, pinned.train_job_id) == (detector.id, job.id)
        with pytest.raises(InvalidRequest, match="give either train_job_id or model_id"):
            client.servings.create("both", job.id, model_id=detector.id, start=False)
        both = _send(
            api_server, "POST", "/servings", {"name": "both", "train_job_id": job.id, "model_id": detector.id}
        )
        assert both.status_code == 422 and "give either train_job_id or model_id" in both.text
        assert [s.name for s in client.servings.list(search="follow")] == ["follow"]


@pytest.mark.platform_servers("s3", "mlflow")
def test_nothing_is_recorded_that_no_flow_could_follow(seeded: Seeded, api_server: Any) -> None:
    """The Prefect server is down (this test has none): promoting, rolling back and setting an alias are refused
    (503) before anything is recorded; an alias set where it already is needs no flow and is answered."""
    job_id = create_job(seeded, "ecod")
    model_id, run = model_of(job_id), add_run(job_id)
    for _ in range(3):
        record_version(job_id, run)
    first, second = make_champion(model_id, 1), make_champion(model_id, 2)
    with api_server.client() as client:
        before = client.models.get(model_id)
        with pytest.raises(Unavailable, match="is unreachable"):
            client.models.promote(model_id, 3)
        with pytest.raises(Unavailable, match="is unreachable"):
            client.models.rollback(model_id)
        with pytest.raises(Unavailable, match="is unreachable"):
            client.models.set_alias(model_id, "challenger", 3)
        assert [e.id for e in client.models.evaluations(model_id).items] == [second, first]
        assert client.models.get(model_id) == before
        assert len(client.models.alias_history(model_id)) == 2
        same = client.models.set_alias(model_id, "champion", 2)
        assert same.launch is None and same.model == before
