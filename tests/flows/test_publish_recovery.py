"""Publishes that die mid-upload, with the flow runner `mlops up` starts: the killed publish leaves its release
PUBLISHING and an incomplete multipart upload; the runner's startup reconciliation fails the release and
aborts the upload, and publishing again leaves exactly one object and no incomplete upload. The scheduled
``reconcile-releases`` deployment does the same while leaving a live publish alone."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import uuid
from datetime import timedelta
from typing import Any

import pytest

from tests.fixtures.runner import FlowRunner, MlopsCli, ok
from tests.flows.training_support import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.platform_servers("s3", "prefect")]

ENTRY_BYTES = 32 * 1024 * 1024  # random, so deflate cannot shrink it: four make a zip of ~128 MiB


def seed_release(entries: int) -> tuple[Any, int]:
    """A pending anomaly-detection release of ``entries`` large entries (random bytes: the layout copies a
    table entry byte for byte, so the publish takes seconds and its zip goes up in many parts)."""
    from catalog.db import session_scope
    from catalog.services import datasets as ds
    from catalog.services import releases as rel
    from catalog.services.init import initialize
    from catalog.services.teams import actor_for
    from infra.objectstore import ObjectStore

    initialize(admin_password="recovery-pass-1", echo=lambda *a, **k: None)
    store = ObjectStore.from_settings()
    with session_scope() as session:
        admin = actor_for(session, username="admin")
        dataset = ds.create_dataset(
            session, actor=admin, team_id=min(admin.team_ids), scenario="anomaly_detection", name="big"
        )
    for n in range(entries):
        body = os.urandom(ENTRY_BYTES)
        key = f"datasets/{dataset.id}/entries/{uuid.uuid4().hex}/part{n}.csv"
        store.put_bytes(key, body, content_type="text/csv")
        with session_scope() as session:
            ds.add_entry(
                session,
                actor=admin,
                dataset_id=dataset.id,
                name=f"part{n}.csv",
                object_key=key,  # type: ignore[arg-type]
                size_bytes=len(body),
                sha256=hashlib.sha256(body).hexdigest(),
                content_type="text/csv",
                summary={"rows": 1000},
            )
    with session_scope() as session:
        release = rel.create_release(session, actor=admin, dataset_id=dataset.id)  # type: ignore[arg-type]
    return admin, int(release.id or 0)


def release_row(release_id: int) -> Any:
    from catalog.db import session_scope
    from catalog.models import DatasetRelease

    with session_scope() as session:
        return session.get(DatasetRelease, release_id)


def flow_run_state(flow_run_id: str) -> str:
    from prefect.client.orchestration import get_client

    async def read() -> str:
        async with get_client() as client:
            run = await client.read_flow_run(uuid.UUID(flow_run_id))
            return run.state_type.value if run.state_type else ""

    return asyncio.run(read())


def test_publish_killed_mid_upload_is_reconciled_when_the_runner_starts(
    api_server: Any, flow_runner: FlowRunner, mlops_cli: MlopsCli
) -> None:
    from infra.objectstore import ObjectStore

    _, release_id = seed_release(entries=4)
    store = ObjectStore.from_settings()
    flow_runner.start()
    started = ok(mlops_cli("datasets", "republish", str(release_id), "--no-wait", "--json"))
    assert json.loads(started.stdout)["status"] == "publishing", started.stdout

    flow_run_id = wait_for(
        lambda: release_row(release_id).flow_run_id, timeout=60, what="the publish's flow run"
    )
    process = wait_for(lambda: flow_runner.flow_run_process(flow_run_id), timeout=60, what="its process")
    uploads = wait_for(
        lambda: store.incomplete_uploads("releases/"),
        timeout=120,
        what="the zip's multipart upload",
        every=0.02,
    )
    process.send_signal(signal.SIGKILL)
    wait_for(
        lambda: flow_run_state(flow_run_id) == "CRASHED", timeout=60, what="the runner to report the crash"
    )
    assert release_row(release_id).status == "publishing", "nothing cleaned up after the killed publish"
    left = store.incomplete_uploads("releases/")
    assert {u.upload_id for u in left} == {u.upload_id for u in uploads}, "the killed publish left its upload"

    flow_runner.restart()  # the startup reconciliation runs before the runner reports ready
    failed = release_row(release_id)
    assert failed.status == "failed", failed
    assert f"publishing was interrupted: flow run {flow_run_id} ended CRASHED" in failed.error
    assert store.incomplete_uploads("releases/") == []
    assert list(store.list("releases/")) == []

    again = ok(mlops_cli("datasets", "republish", str(release_id), "--json"))
    published = json.loads(again.stdout)
    assert published["status"] == "published" and published["error"] is None, again.stdout
    assert store.incomplete_uploads("releases/") == []
    assert [o.key for o in store.list("releases/")] == [release_row(release_id).object_key]


def test_scheduled_reconcile_fails_dead_publishes_and_keeps_live_ones(flow_runner: FlowRunner) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Scheduled

    from catalog.db import session_scope
    from catalog.models import DatasetRelease
    from catalog.models.base import utcnow
    from flows.launch import run_flow
    from flows.registry import deployments
    from infra.objectstore import ObjectStore
    from tasks.datasets import release_key
    from tests.infra.test_objectstore import start_upload

    _, dead_id = seed_release(entries=1)
    flow_runner.start()
    # A live publish: its flow run is scheduled (a day ahead, so the runner leaves it waiting).
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(deployments()["publish-release"].full_name)
        live_run = client.create_flow_run_from_deployment(
            deployment.id,
            parameters={"release_id": 0},
            state=Scheduled(scheduled_time=utcnow() + timedelta(days=1)),
        )
    store = ObjectStore.from_settings()
    with session_scope() as session:
        dead = session.get(DatasetRelease, dead_id)
        live = DatasetRelease(
            dataset_id=dead.dataset_id,
            version="live",
            status="publishing",  # type: ignore[union-attr]
            flow_run_id=str(live_run.id),
            entries=dead.entries,
        )  # type: ignore[union-attr]
        session.add(live)
        dead.status, dead.flow_run_id = "publishing", str(uuid.uuid4())  # type: ignore[union-attr]
        session.add(dead)
        session.flush()
        live_key, dead_key = release_key(live), release_key(dead)  # type: ignore[arg-type]
        live_id = live.id
    live_upload = start_upload(store, live_key)
    start_upload(store, dead_key)
    start_upload(store, "releases/stray.zip", parts=0)

    try:
        flow_runner.wait_idle(
            "reconcile-releases"
        )  # the start-up run ended: this one is not refused beside it
        launched = run_flow("reconcile-releases", {}, wait=True, mode="deployment")
        assert launched.state == "COMPLETED", launched.message
        assert release_row(dead_id).status == "failed"
        assert "no longer exists" in release_row(dead_id).error
        assert release_row(live_id).status == "publishing"
        assert [(u.key, u.upload_id) for u in store.incomplete_uploads("releases/")] == [
            (live_key, live_upload)
        ]
    finally:
        with get_client(sync_client=True) as client:
            client.delete_flow_run(live_run.id)
