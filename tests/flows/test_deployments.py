"""The deployment server (flows/serve_all.py, as `mlops up` starts it): every deployment of prefect.yaml is
registered with the Prefect server (so the UI lists them), and a deployment run requested through the API is
executed by it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from infra.net import wait_until
from tests.flows.test_walking_skeleton import make_series

pytestmark = pytest.mark.slow


@pytest.fixture
def deployment_server(platform_env, tmp_path: Path):  # type: ignore[no-untyped-def]
    ready = tmp_path / "deployments.ready"
    env = {**os.environ, "MLOPS_DEPLOYMENTS_READY_FILE": str(ready), "MLOPS_PREFECT_POLL_SECONDS": "0.5"}
    log = (tmp_path / "serve_all.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "flows.serve_all"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: ready.exists() or proc.poll() is not None, timeout=90, interval=0.2,
                   description="deployments ready")
        assert proc.poll() is None, (tmp_path / "serve_all.log").read_text()[-3000:]
        yield proc
    finally:
        # Prefect's runner finishes in-flight runs on the first SIGTERM and exits on the second.
        for _ in range(2):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    continue
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


def _deployment_names() -> set[str]:
    from prefect.client.orchestration import get_client

    async def names() -> set[str]:
        async with get_client() as client:
            return {d.name for d in await client.read_deployments()}

    return asyncio.run(names())


def test_all_deployments_registered_and_runnable(deployment_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import yaml

    from catalog.db import session_scope
    from catalog.services import datasets as ds
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
        dataset = ds.create_dataset(session, actor=admin, team_id=min(admin.team_ids), scenario="anomaly_detection",
                                    name="d")
    upload_entry(actor=admin, dataset_id=dataset.id, path=make_series(tmp_path / "a.csv", n=50, seed=1, anomalies=[]))
    with session_scope() as session:
        release = ds.create_release(session, actor=admin, dataset_id=dataset.id)
    launched = run_flow("publish-release", {"release_id": release.id}, wait=True, mode="deployment")
    assert launched.state == "COMPLETED", launched.message
    with session_scope() as session:
        assert ds.get_release(session, actor=admin, release_id=release.id).status == "published"
