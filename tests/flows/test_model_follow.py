"""Servings that follow an alias, on the process runtime and real servers (SeaweedFS, MLflow, Prefect): when
``champion`` moves (by hand, then back by the rollback service) the ``serving-follow`` deployment rolls the serving
forward and back while a client sends requests the whole time — no request fails, every answer names the version
that produced it, and once a follow returns only the target answers. The scheduled sync completes a follow cut
short, rolls forward a server that came back on an older version, and records a version that fails to load
(the serving keeps answering with the one it had)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from infra.net import wait_until
from tests.fixtures.runner import FlowRunner
from tests.flows.follow_support import (
    Registered,
    create_follower,
    follow_moves,
    health,
    move_champion,
    record,
    register_versions,
    seed_model,
    serving_row,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def registered(mlflow_server: Any) -> Registered:
    return register_versions(mlflow_server.uri)


def test_a_serving_follows_champion_forwards_and_back_without_dropping_a_request(
    platform: Any, registered: Registered, flow_runner: FlowRunner
) -> None:
    from flows.launch import run_flow

    # The scheduled sync would roll the serving forward too: here the follow alone must do it.
    flow_runner.start(MLOPS_PREFECT_SCHEDULE_OVERRIDES=json.dumps({"sync-servings": 3600}))
    seeded = seed_model(registered)
    sid = create_follower(seeded)
    started = run_flow("serving-start", {"serving_id": sid}, mode="deployment")
    assert started.state == "COMPLETED", started.message
    assert health(sid)["model_version"] == "1" and serving_row(sid).resolved_version == "1"

    def follow() -> None:
        launched = run_flow("serving-follow", {"model_id": seeded.model_id}, mode="deployment")
        assert launched.state == "COMPLETED", f"{launched.message}\n{flow_runner.log()}"

    # Promoted by hand to v2, then rolled back to v1 (the rollback service replays the alias's history).
    follow_moves(seeded, sid, follow, [(2, "2"), (None, "1")])
    assert serving_row(sid).error is None


def test_the_sync_completes_a_follow_and_a_failed_version_keeps_the_old_one(
    platform: Any, registered: Registered
) -> None:
    from catalog.services.serving import control_token
    from flows.serving import serving_follow, serving_start, sync_servings
    from tasks.serving_rollout import control_url

    seeded = seed_model(registered)
    sid = create_follower(seeded)
    serving_start(sid)
    # The alias moved and the platform stopped before any follow ran: the next sync rolls the serving forward.
    move_champion(seeded, 2)
    assert sync_servings()["rolled"] == {str(sid): "2"}
    assert health(sid)["model_version"] == "2" and serving_row(sid).resolved_version == "2"
    assert sync_servings()["rolled"] == {}  # nothing left to do

    # A server that came back on the version it was started with (a restarted container runs its first
    # command): the catalog still says 2, the server says 1, the sync believes the server.
    serving = serving_row(sid)
    asked = httpx.post(
        control_url(serving),
        json={"model_uri": f"models:/{registered.name}/1", "version": "1"},
        headers={"Authorization": f"Bearer {control_token(serving)}"},
        timeout=30,
        trust_env=False,
    )
    assert asked.status_code == 202, asked.text
    wait_until(lambda: health(sid)["model_version"] == "1", timeout=120, description="back on v1")
    assert sync_servings()["rolled"] == {str(sid): "2"}
    assert health(sid)["model_version"] == "2"

    # A version whose load fails: the follow fails saying why, the serving records it and keeps answering v2.
    record(seeded, registered, 3)
    move_champion(seeded, 3)
    with pytest.raises(RuntimeError, match="broken on purpose"):
        serving_follow(seeded.model_id)
    row = serving_row(sid)
    assert "broken on purpose" in (row.error or "") and row.resolved_version == "2"
    report = health(sid)
    assert report["model_version"] == "2" and "broken on purpose" in report["load_error"]
    assert sync_servings()["failed"].keys() == {str(sid)}  # the sync tries again, and records it again
