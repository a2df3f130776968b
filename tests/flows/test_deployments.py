"""The deployment server (flows/serve_all.py, as `mlops up` starts it): every deployment of prefect.yaml is
registered with the Prefect server (so the UI lists them), and a deployment run requested through the API is
executed by it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.fixtures.runner import FlowRunner
from tests.flows.test_walking_skeleton import make_series

pytestmark = pytest.mark.slow


def _deployment_names() -> set[str]:
    from prefect.client.orchestration import get_client

    async def names() -> set[str]:
        async with get_client() as client:
            return {d.name for d in await client.read_deployments()}

    return asyncio.run(names())


def test_all_deployments_registered_and_runnable(flow_runner: FlowRunner, tmp_path: Path) -> None:
    import yaml

    flow_runner.start()

    from catalog.db import session_scope
    from catalog.services import datasets as ds
    from catalog.services import releases as rel
    from catalog.services.init import initialize
    from catalog.services.teams import actor_for
    from catalog.uploads import upload_entry
    from flows.launch import run_flow

    declared = {d["name"] for d in yaml.safe_load(Path("prefect.yaml").read_text())["deployments"]}
    assert {"train", "publish-release", "serving-start", "sync-servings"} <= declared
    assert declared <= _deployment_names()

    initialize(admin_password="deploy-pass-1", echo=lambda *a, **k: None)
    with session_scope() as session:
        admin = actor_for(session, username="admin")
        dataset = ds.create_dataset(
            session, actor=admin, team_id=min(admin.team_ids), scenario="anomaly_detection", name="d"
        )
    upload_entry(
        actor=admin, dataset_id=dataset.id, path=make_series(tmp_path / "a.csv", n=50, seed=1, anomalies=[])
    )
    with session_scope() as session:
        release = rel.create_release(session, actor=admin, dataset_id=dataset.id)
    launched = run_flow("publish-release", {"release_id": release.id}, wait=True, mode="deployment")
    assert launched.state == "COMPLETED", launched.message
    with session_scope() as session:
        assert rel.get_release(session, actor=admin, release_id=release.id).status == "published"
