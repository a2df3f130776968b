"""The serving lifecycle on the process runtime, on real servers (SeaweedFS, MLflow, Prefect): create launches,
a re-run adopts, update (version, port) restarts, `latest` is resolved at start and pins are honoured, stop
frees the port and keeps the record, remove force-deletes while running, delete removes the container
before the record (and keeps the record when that fails), and live state: a killed server is seen on the
next read, a failing runtime leaves the stored state marked stale, the scheduled sync flow does the same."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from infra.net import wait_until
from tests.model_rows import add_versions

pytestmark = pytest.mark.slow


def ecod_series(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=n, freq="min").astype(str),
            "value": (np.sin(t / 10) + rng.normal(0, 0.2, n)).round(4),
        }
    )


@pytest.fixture(scope="module")
def registered_model(mlflow_server: Any) -> str:
    """One registered ECOD model with two versions of different thresholds (so pins are observable)."""
    from mlflow import MlflowClient

    from algorithms.base.tracking import log_and_register_model
    from algorithms.registry import get_algorithm

    client = MlflowClient(tracking_uri=mlflow_server.uri)
    name = f"serving-test-{uuid.uuid4().hex[:8]}"
    algorithm = get_algorithm("ECOD")
    for contamination in (0.01, 0.3):
        run = client.create_run("0")
        fitted = algorithm.fit(ecod_series(500, seed=1), {"contamination": contamination})
        log_and_register_model(
            client,
            run.info.run_id,
            algorithm.pyfunc_model(fitted),
            model_name=name,
            pip_requirements=algorithm.pip_requirements(),
            metadata=algorithm.model_metadata(fitted),
            signature=algorithm.signature(),
        )
        client.set_terminated(run.info.run_id)
    return name


@dataclass
class Seeded:
    admin: Any
    team_id: int
    job_id: int
    other_team_id: int
    other_job_id: int
    other_user: Any


def seed_catalog(model_name: str) -> Seeded:
    """Admin's team with a completed job of ``model_name`` (the registered model of the team's catalog model of
    that name); a second team with its own job, model and member. The versions are not recorded in the catalog:
    a serving's start records them from the job's runs."""
    from sqlmodel import select

    from catalog.db import session_scope
    from catalog.models import AlgorithmConfig, DatasetRelease, JobRun, JobStatus, Model, TrainJob
    from catalog.services import datasets as ds
    from catalog.services import team_tree, teams
    from catalog.services.init import initialize
    from catalog.services.teams import actor_for

    initialize(admin_password="serving-pass-1", echo=lambda *a, **k: None)
    with session_scope() as session:
        admin = actor_for(session, username="admin")
        team_id = min(admin.team_ids)
        other = team_tree.create_team(session, actor=admin, name=f"other-{uuid.uuid4().hex[:6]}")
        bob = teams.create_user(session, actor=admin, username="bob", password="bob-pass-123")
        teams.add_member(session, actor=admin, team_id=other.id, user_id=bob.id)
        algo = session.exec(select(AlgorithmConfig).where(AlgorithmConfig.name == "ECOD")).first()
        job_ids = []
        models = []
        for tid in (team_id, other.id):
            dataset = ds.create_dataset(
                session, actor=admin, team_id=tid, scenario="anomaly_detection", name="d"
            )
            release = DatasetRelease(dataset_id=dataset.id, version="v1", status="published")
            session.add(release)
            mlflow_name = model_name if tid == team_id else f"{model_name}-team{tid}"
            model = Model(team_id=tid, scenario="anomaly_detection", name="ecod", mlflow_name=mlflow_name)
            session.add(model)
            session.flush()
            job = TrainJob(
                team_id=tid,
                scenario="anomaly_detection",
                name="ecod",
                algorithm_id=algo.id,
                release_id=release.id,
                params={},
                status=JobStatus.COMPLETED,
                model_id=model.id,
                model_name=mlflow_name,
                mlflow_run_id="seeded",
            )
            session.add(job)
            session.flush()
            models.append(model)
            job_ids.append(job.id)
        other_id = other.id
        # As the training flow records them: the runs that registered the model's versions are the jobs' own
        # (a serving serves only versions registered by one of its job's runs).
        from infra import tracking

        try:
            versions = tracking.client().search_model_versions(f"name = '{model_name}'")
        except Exception:  # noqa: BLE001 - tests without an MLflow server have no model to serve
            versions = []
        experiment = tracking.client().get_run(versions[0].run_id).info.experiment_id if versions else "0"
        for job_id in job_ids:
            for version in versions:
                session.add(
                    JobRun(
                        run_id=version.run_id if job_id == job_ids[0] else f"{version.run_id}x{job_id}",
                        job_id=job_id,
                        experiment_id=experiment,
                    )
                )
        session.flush()
        own_job = session.get(TrainJob, job_ids[0])
        add_versions(session, models[0], own_job, [(int(v.version), v.run_id) for v in versions])
    with session_scope() as session:
        bob_actor = actor_for(session, username="bob")
    return Seeded(admin, team_id, job_ids[0], other_id, job_ids[1], bob_actor)


@pytest.fixture
def seeded(platform_env: Any, registered_model: str) -> Iterator[Seeded]:
    seeded = seed_catalog(registered_model)
    yield seeded
    # Never leave an inference server behind, whatever the test did.
    from infra.runtime.registry import get_runtime

    runtime = get_runtime()
    for status in runtime.list(labels={"kind": "serve"}):
        runtime.remove(status.name, force=True)


def load(serving_id: int) -> Any:
    from catalog.db import session_scope
    from catalog.models import Serving

    with session_scope() as session:
        return session.get(Serving, serving_id)


def health(url: str) -> dict[str, Any]:
    return httpx.get(url.removesuffix("/predict") + "/health", timeout=10, trust_env=False).json()


def container_state(serving_id: int) -> str:
    from infra.runtime.registry import get_runtime

    name = f"serve-{serving_id}"
    return get_runtime().status([name])[name].state.value


def create(seeded: Seeded, name: str, **kwargs: Any) -> int:
    from catalog.db import session_scope
    from catalog.services import serving as sv

    with session_scope() as session:
        serving = sv.create_serving(
            session,
            actor=seeded.admin,
            team_id=seeded.team_id,
            name=name,
            train_job_id=seeded.job_id,
            **kwargs,
        )
    return serving.id  # type: ignore[return-value]


def update(seeded: Seeded, serving_id: int, **kwargs: Any) -> bool:
    from catalog.db import session_scope
    from catalog.services import serving as sv

    with session_scope() as session:
        _, restart = sv.update_serving(session, actor=seeded.admin, serving_id=serving_id, **kwargs)
    return restart


def predict_scores(seeded: Seeded, serving_id: int) -> list[float]:
    from tasks.predict import predict

    payload = {"data": [{"timestamp": i, "value": v} for i, v in enumerate([0.1, 0.2, 5.0])]}
    return [
        r["score"] for r in predict(actor=seeded.admin, serving_id=serving_id, payload=payload)["results"]
    ]


def port_is_free(port: int) -> bool:
    from infra.runtime.ports import is_bindable

    return is_bindable("127.0.0.1", port)


def run_lifecycle(seeded: Seeded) -> None:
    """The whole lifecycle against whichever runtime the settings name (process here, docker elsewhere)."""
    from flows.serving import serving_delete, serving_remove, serving_restart, serving_start, serving_stop
    from infra.runtime.ports import allocate_port

    sid = create(seeded, "live")
    first = serving_start(sid)
    serving = load(sid)
    # 'latest' resolved to a concrete version at start; the container serves exactly that version.
    assert serving.model_version == "latest" and serving.resolved_version == "2"
    assert health(first["url"])["model_uri"].endswith("/2")
    assert serving.observed_state == "running" and serving.error is None
    scores_v2 = predict_scores(seeded, sid)
    instance = health(first["url"])["instance_id"]
    # The container answers only its serving's token (the platform's predict above sent it).
    from catalog.services.serving import inference_token

    body = {"data": [{"timestamp": "2024-01-01T00:00:00", "value": 1.0}]}
    assert httpx.post(first["url"], json=body, timeout=30, trust_env=False).status_code == 401
    other = inference_token(serving.model_copy(update={"id": serving.id + 1}))  # another serving's token
    assert (
        httpx.post(
            first["url"], json=body, timeout=30, trust_env=False, headers={"Authorization": f"Bearer {other}"}
        ).status_code
        == 401
    )
    answer = httpx.post(
        first["url"],
        json=body,
        timeout=30,
        trust_env=False,
        headers={"Authorization": f"Bearer {inference_token(serving)}"},
    )
    # Every answer names the version that produced it.
    assert answer.status_code == 200 and answer.headers["x-model-version"] == "2"
    assert answer.json()["metadata"]["model_version"] == "2"

    # Re-running start adopts the live container instead of starting a second one.
    again = serving_start(sid)
    assert again["url"] == first["url"] and health(again["url"])["instance_id"] == instance

    # Pinning a version restarts the running container on that version.
    assert update(seeded, sid, model_version="1") is True
    restarted = serving_restart(sid)
    assert restarted["restarted"] and load(sid).resolved_version == "1"
    assert health(restarted["url"])["model_uri"].endswith("/1")
    assert health(restarted["url"])["instance_id"] != instance
    assert predict_scores(seeded, sid) == scores_v2  # same data, same ECDFs: scores agree, thresholds differ

    # A port change restarts too; the old port is free afterwards.
    old_port = load(sid).observed_port
    new_port = allocate_port(exclude={old_port})  # a port a serving may ask for: free, in the serving range
    assert update(seeded, sid, port=new_port) is True
    moved = serving_restart(sid)
    assert load(sid).observed_port == new_port and f":{new_port}/" in moved["url"]
    assert health(moved["url"])["ready"]
    wait_until(lambda: port_is_free(old_port), timeout=30, description="old port freed")
    assert update(seeded, sid, port=new_port) is False  # no change, no restart

    # Stop: container gone, record kept, port freed; start brings it back.
    serving_stop(sid)
    serving = load(sid)
    assert container_state(sid) == "not_found"
    assert serving.desired_state == "stopped" and serving.observed_state == "not_found"
    wait_until(lambda: port_is_free(new_port), timeout=30, description="port freed by stop")
    # An update of a stopped serving restarts nothing.
    assert update(seeded, sid, model_version="latest") is False
    assert serving_restart(sid)["restarted"] is False and container_state(sid) == "not_found"

    serving_start(sid)
    assert container_state(sid) == "running" and load(sid).resolved_version == "2"
    # Remove: force delete while running; the record stays.
    serving_remove(sid)
    assert container_state(sid) == "not_found" and load(sid) is not None

    # Delete record: the container goes first, then the record.
    serving_start(sid)
    serving_delete(sid)
    assert container_state(sid) == "not_found" and load(sid) is None


def test_lifecycle_on_the_process_runtime(seeded: Seeded) -> None:
    run_lifecycle(seeded)


def test_delete_keeps_the_record_when_the_container_cannot_be_removed(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.serving import serving_delete, serving_start
    from infra.runtime.base import RuntimeError_
    from infra.runtime.process import ProcessRuntime

    sid = create(seeded, "sticky")
    serving_start(sid)

    def refuse(self: Any, name: str, *, force: bool = False) -> None:
        raise RuntimeError_(f"engine refused to remove {name}")

    with monkeypatch.context() as patched:
        patched.setattr(ProcessRuntime, "remove", refuse)
        with pytest.raises(RuntimeError_, match="refused"):
            serving_delete(sid)
    serving = load(sid)
    assert serving is not None, "the record went although its container is still there"
    assert "record kept" in (serving.error or "")
    assert container_state(sid) == "running"

    # A runtime whose remove claims success while the container lives on must not lose the record either.
    monkeypatch.setattr(ProcessRuntime, "remove", lambda self, name, *, force=False: None)
    with pytest.raises(RuntimeError_, match="still running"):
        serving_delete(sid)
    assert load(sid) is not None
    monkeypatch.undo()
    serving_delete(sid)  # the retry finishes the job
    assert load(sid) is None and container_state(sid) == "not_found"


def test_killed_server_and_unreachable_runtime_on_read_and_in_the_sync_flow(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    from catalog.db import session_scope
    from catalog.services import serving as sv
    from flows.serving import serving_start, sync_servings
    from infra.runtime.base import RuntimeError_
    from infra.runtime.process import ProcessRuntime
    from tasks.serving import observe_now

    killed, alive = create(seeded, "killed"), create(seeded, "alive")
    serving_start(killed)
    serving_start(alive)
    state = ProcessRuntime()._read(f"serve-{killed}")
    assert state is not None
    os.kill(state["pid"], signal.SIGKILL)
    wait_until(
        lambda: container_state(killed) == "failed", timeout=30, description="kill seen by the runtime"
    )

    # The next list read (what CLI and dashboard do) writes the observed state back, in one batch.
    with session_scope() as session:
        _, rows = sv.list_servings(session, actor=seeded.admin)
    observed = observe_now([r.id for r in rows])
    assert observed[killed].state == "failed" and observed[alive].state == "running"
    assert load(killed).observed_state == "failed" and "SIGKILL" in load(killed).observed_detail
    assert load(killed).desired_state == "running"  # desired state is the user's; only observed changed

    # The runtime fails: stored state shown, marked stale, with the error.
    def unreachable(self: Any, names: Any) -> Any:
        raise RuntimeError_("process runtime state directory unreadable")

    with monkeypatch.context() as patched:
        patched.setattr(ProcessRuntime, "status", unreachable)
        observed = observe_now(None)
        assert observed[alive].stale and observed[alive].state == "running"
        serving = load(alive)
        assert serving.observed_stale and serving.observed_state == "running"
        assert "unreadable" in serving.observed_detail
        assert sync_servings()["stale"] == 2
        page = serving_page()
        assert not page.exception, page.exception
        assert any("could not be reached" in w.value for w in page.warning)

    # The scheduled flow, with the runtime back: fresh states, nothing stale.
    result = sync_servings()
    assert result["count"] == 2 and result["stale"] == 0
    assert result["states"] == {str(killed): "failed", str(alive): "running"}
    assert not load(alive).observed_stale


def serving_page() -> Any:
    from streamlit.testing.v1 import AppTest

    return AppTest.from_string(
        "from dashboard.views import serving\nserving.render()\n", default_timeout=60
    ).run()


def test_serving_page_shows_live_state_and_lifecycle_buttons(seeded: Seeded) -> None:
    from flows.serving import serving_start

    sid = create(seeded, "shown")
    serving_start(sid)
    page = serving_page()
    assert not page.exception, page.exception
    table = page.dataframe[0].value
    assert table.loc[table["id"] == sid, "observed_state"].item() == "running"
    labels = {b.label for b in page.button}
    assert {"Start", "Stop", "Remove container", "Delete", "Refresh", "Apply"} <= labels
    assert any("/predict" in c.value for c in page.code)


@pytest.mark.platform_servers("s3")
def test_serving_another_teams_job_is_refused(platform_env: Any) -> None:
    from sqlmodel import select

    from catalog.db import session_scope
    from catalog.errors import NotFoundError
    from catalog.models import Serving
    from catalog.services import serving as sv

    seeded = seed_catalog("unused-model")
    with session_scope() as session, pytest.raises(NotFoundError):
        # bob's own team, the admin team's job
        sv.create_serving(
            session,
            actor=seeded.other_user,
            team_id=seeded.other_team_id,
            name="x",
            train_job_id=seeded.job_id,
        )
    with session_scope() as session, pytest.raises(NotFoundError):
        # even a superuser cannot serve one team's job in another team
        sv.create_serving(
            session, actor=seeded.admin, team_id=seeded.team_id, name="y", train_job_id=seeded.other_job_id
        )
    with session_scope() as session, pytest.raises(NotFoundError):
        sv.create_serving(
            session, actor=seeded.other_user, team_id=seeded.team_id, name="z", train_job_id=seeded.job_id
        )
    with session_scope() as session:
        own = sv.create_serving(
            session,
            actor=seeded.other_user,
            team_id=seeded.other_team_id,
            name="ok",
            train_job_id=seeded.other_job_id,
        )
    with session_scope() as session, pytest.raises(NotFoundError):
        sv.update_serving(session, actor=seeded.other_user, serving_id=own.id, train_job_id=seeded.job_id)
    with session_scope() as session:
        assert [s.name for s in session.exec(select(Serving)).all()] == ["ok"]
