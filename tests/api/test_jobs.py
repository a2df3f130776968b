"""Training jobs through a live API server and the SDK: bad parameters are one clear 422 that stores nothing; a
job of another team reads exactly like a missing one on every job endpoint; a start of an active job is a 409;
and a small ECOD job trains for real (flow runner in deployment mode, as `mlops up` runs it): start → wait →
runs → params → metrics → model download (a zip holding the MLmodel), run soft delete and restore."""

from __future__ import annotations

import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlops_lite.client import Client, Conflict, InvalidRequest, NotFound, TimedOut
from tests.fixtures.runner import FlowRunner
from tests.flows.training_support import Seeded, seed_catalog, set_training

MISSING = 2**31 - 1  # a job id no test creates


@pytest.fixture
def seeded(platform_env: Any, platform_admin: str, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    set_training(monkeypatch, poll_seconds=0.3)
    return seed_catalog()


def _objects(prefix: str) -> list[str]:
    from infra.objectstore import ObjectStore
    from infra.settings import get_settings

    return [o.key for o in ObjectStore.from_settings(get_settings().s3).list(prefix)]


@pytest.mark.platform_servers("s3")
def test_bad_params_are_a_clear_422_and_store_nothing(seeded: Seeded, api_server: Any) -> None:
    with api_server.client() as client:
        for params, field in (
            ({"contamination": 5}, "contamination"),
            ({"no_such_param": 1}, "no_such_param"),
        ):
            with pytest.raises(InvalidRequest) as refused:
                client.jobs.create(
                    "bad",
                    scenario="anomaly_detection",
                    algorithm="ECOD",
                    release_id=seeded.release_id,
                    params=params,
                )
            assert refused.value.status == 422 and refused.value.code == "validation_error"
            assert field in refused.value.message, refused.value.message
        with pytest.raises(NotFound, match="algorithm 'NoSuchAlgorithm' not found"):
            client.jobs.create(
                "bad", scenario="anomaly_detection", algorithm="NoSuchAlgorithm", release_id=seeded.release_id
            )
        answer = httpx.post(
            f"{api_server.url}/api/v1/jobs",
            headers={"Authorization": f"Bearer {api_server.operator_token}"},
            json={
                "name": "bad",
                "scenario": "anomaly_detection",
                "algorithm": "ECOD",
                "release_id": seeded.release_id,
                "paramz": {},
            },
        )
        assert answer.status_code == 422 and answer.json()["error"] == {
            "code": "validation_error",
            "message": "invalid request: paramz: unknown field",
            "status": 422,
        }
        assert client.jobs.page().total == 0, "a refused job stores no row"
        assert _objects("jobs/") == [], "nor a config"

        job = client.jobs.create(
            "good",
            scenario="anomaly_detection",
            algorithm="ECOD",
            release_id=seeded.release_id,
            params={"contamination": 0.05},
        )
        assert job.status == "created" and job.params["contamination"] == 0.05
        assert (job.algorithm, job.release, job.dataset) == ("ECOD", "v1", "cpu")
        assert _objects("jobs/") == [job.config_key]
        with pytest.raises(InvalidRequest, match="contamination"):
            job.update(params={"contamination": -1})
        assert client.jobs.get(job.id).config_key == job.config_key, "a refused update changes nothing"

        updated = job.update(params={"contamination": 0.02}, max_evals=0)
        assert updated.params["contamination"] == 0.02 and updated.config_revision == job.config_revision + 1
        assert _objects("jobs/") == [updated.config_key], "the previous config is deleted once replaced"

        # Lists page and filter as the dashboard's.
        assert [j.id for j in client.jobs.list(search="goo", status="created")] == [job.id]
        assert client.jobs.page(status="running").total == 0
        assert client.jobs.page(scenario="timeseries_predict").total == 0
        assert client.jobs.page(team_id=seeded.team_id, limit=1).items[0].id == job.id
        # Waiting for a job nobody started gives up at its deadline, with the job as it is.
        with pytest.raises(TimedOut, match="has not ended after 0.5 s"):
            client.jobs.wait(job.id, timeout=0.5, poll=0.1)


@pytest.mark.platform_servers("s3")
def test_starting_an_active_job_is_a_conflict(seeded: Seeded, api_server: Any) -> None:
    from catalog.db import session_scope
    from catalog.models import TrainJob
    from tests.flows.training_support import create_job

    job_id = create_job(seeded, "busy")
    with session_scope() as session:
        row = session.get(TrainJob, job_id)
        assert row is not None
        row.status, row.flow_run_id = "running", "f" * 32
    with api_server.client() as client:
        with pytest.raises(
            Conflict, match=f"training job 'busy' was already started \\(running, flow run {'f' * 32}\\)"
        ):
            client.jobs.start(job_id)
        with pytest.raises(Conflict, match="stop it before editing"):
            client.jobs.update(job_id, max_evals=0)


@pytest.mark.platform_servers("s3")
def test_a_foreign_teams_job_reads_as_missing_on_every_endpoint(seeded: Seeded, api_server: Any) -> None:
    from sqlmodel import select

    from catalog.db import session_scope
    from catalog.models import TrainJob, User
    from catalog.scoping import SYSTEM
    from catalog.services import team_tree, teams
    from tests.flows.training_support import create_job

    job_id = create_job(seeded, "theirs")
    with session_scope() as session:
        other = team_tree.create_team(session, actor=SYSTEM, name="other-team")
        mallory = session.exec(select(User).where(User.username == "mallory")).one()
        teams.add_member(session, actor=SYSTEM, team_id=other.id, user_id=mallory.id)  # type: ignore[arg-type]
    client, issued = Client.login(api_server.url, "mallory", "mallory-pass")
    run_id = uuid.uuid4().hex
    endpoints: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/jobs/{id}", None),
        ("PATCH", "/jobs/{id}", {"max_evals": 0}),
        ("POST", "/jobs/{id}/start", None),
        ("POST", "/jobs/{id}/stop", None),
        ("GET", f"/jobs/{{id}}/progress?flow_run_id={uuid.uuid4()}", None),
        ("GET", "/jobs/{id}/runs", None),
        ("GET", f"/jobs/{{id}}/runs/{run_id}/params", None),
        ("GET", f"/jobs/{{id}}/runs/{run_id}/metrics", None),
        ("GET", f"/jobs/{{id}}/runs/{run_id}/metrics/history", None),
        ("DELETE", f"/jobs/{{id}}/runs/{run_id}", None),
        ("POST", f"/jobs/{{id}}/runs/{run_id}/restore", None),
        ("GET", f"/jobs/{{id}}/runs/{run_id}/model", None),
    ]
    headers = {"Authorization": f"Bearer {issued.token}"}
    with httpx.Client(base_url=f"{api_server.url}/api/v1", headers=headers) as http:
        for method, path, body in endpoints:
            answers = [http.request(method, path.format(id=ident), json=body) for ident in (job_id, MISSING)]
            for answer in answers:
                assert answer.status_code == 404, (method, path, answer.status_code, answer.text)
            theirs, missing = (a.json()["error"] for a in answers)
            assert theirs == {**missing, "message": missing["message"].replace(str(MISSING), str(job_id))}, (
                method,
                path,
            )
            assert theirs["message"] == f"training job {job_id} not found"
    assert client.jobs.page().total == 0
    # Another team's filter reads as a team that does not exist.
    with pytest.raises(NotFound, match=f"team {seeded.team_id} not found"):
        client.jobs.page(team_id=seeded.team_id)
    with session_scope() as session:
        row = session.get(TrainJob, job_id)
        assert row is not None and (row.status, row.flow_run_id, row.config_revision) == ("created", None, 1)
    client.close()


@pytest.mark.slow
@pytest.mark.platform_servers("s3", "mlflow", "prefect")
def test_a_small_job_trains_through_the_sdk(
    seeded: Seeded, flow_runner: FlowRunner, api_server: Any, tmp_path: Path
) -> None:
    flow_runner.start()  # the API launches flows as deployments, as under `mlops up`
    with api_server.client() as client:
        job = client.jobs.create(
            "sdk-ecod",
            scenario="anomaly_detection",
            algorithm="ECOD",
            release_id=seeded.release_id,
            params={"contamination": 0.02},
            description="trained by the SDK test",
        )
        launched = job.start()
        assert (
            launched.flow_run_id
            and launched.flow_run_url
            and launched.flow_run_url.endswith(launched.flow_run_id)
        )
        done = job.wait(timeout=300, poll=0.5)
        assert done.status == "completed", (done.error, done.log_tail, flow_runner.log())
        assert done.flow_run_id == launched.flow_run_id and done.mlflow_run_id
        assert done.mlflow_run_url and done.mlflow_run_url.endswith(f"/runs/{done.mlflow_run_id}")
        seen = client.jobs.progress(job.id, launched.flow_run_id)
        assert (seen.flow_state, seen.status, seen.row_flow_run_id) == (
            "COMPLETED",
            "completed",
            launched.flow_run_id,
        )
        other = client.jobs.create(
            "other", scenario="anomaly_detection", algorithm="ECOD", release_id=seeded.release_id
        )
        with pytest.raises(NotFound):
            client.jobs.progress(other.id, launched.flow_run_id)  # the flow run is not the other job's

        runs = client.jobs.runs(job.id)
        assert [r.run_id for r in runs] == [done.mlflow_run_id]
        run = runs[0]
        assert run.status == "FINISHED" and run.start_time and run.end_time and "f1" in run.metrics
        assert client.jobs.params(job.id, run.run_id)["contamination"] == "0.02"
        names = client.jobs.metric_names(job.id, run.run_id)
        history = client.jobs.metrics(job.id, run.run_id)
        assert "f1" in names and sorted(history) == names
        assert all(points and points[0].step >= 0 for points in history.values())
        assert list(client.jobs.metrics(job.id, run.run_id, metric="f1")) == ["f1"]
        with pytest.raises(NotFound):
            client.jobs.params(job.id, uuid.uuid4().hex)  # a made-up run id
        with pytest.raises(NotFound):
            client.jobs.params(other.id, run.run_id)  # a run of another job

        zipped = job.download_model(tmp_path)  # a directory: the server's file name
        assert zipped.parent == tmp_path and zipped.name.endswith(".zip")
        with zipfile.ZipFile(zipped) as zf:
            assert "MLmodel" in zf.namelist() and zf.testzip() is None
        again = client.jobs.download_model(job.id, tmp_path / "again.zip", run_id=run.run_id)
        assert again.read_bytes()[:2] == b"PK" and not list(tmp_path.glob("*.part"))

        assert client.jobs.delete_run(job.id, run.run_id).deleted is True
        assert client.jobs.runs(job.id) == []
        assert [r.lifecycle_stage for r in client.jobs.runs(job.id, deleted=True)] == ["deleted"]
        assert client.jobs.restore_run(job.id, run.run_id).deleted is False
        assert [r.run_id for r in client.jobs.runs(job.id)] == [run.run_id]


def test_the_sdk_knows_the_platforms_job_and_flow_run_states() -> None:
    """The SDK cannot import the platform: its copies of the statuses it waits on must stay the platform's."""
    from catalog.models import ACTIVE_STATUSES, JobStatus
    from flows.outcomes import FINAL_STATES
    from mlops_lite.client.jobs import FINAL_FLOW_STATES
    from mlops_lite.schemas import jobs as schemas

    assert schemas.ACTIVE_STATUSES == {s.value for s in ACTIVE_STATUSES}
    assert schemas.FINAL_STATUSES == {s.value for s in JobStatus} - schemas.ACTIVE_STATUSES - {"created"}
    assert FINAL_FLOW_STATES == FINAL_STATES
