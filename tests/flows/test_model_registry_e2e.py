"""The model registry's acceptance path on real servers (SeaweedFS, MLflow, Prefect, NATS) and the process runtime:
train v1 → the gate promotes it → a serving on ``champion`` answers with v1 → v2, trained on another release with
better settings, passes the gate → the serving answers with v2 while a client sends requests the whole time (no
request fails, every answer names its version, none comes from a version that was not ready) → a worse v3 is
rejected with its reason, the alias stays, and the event reaches a subscriber with the client user's credentials
→ a rollback brings v2 → v1 back the same way. The flows run as the platform runs them in inline mode (each a flow
run on the Prefect server; serving-follow a subflow of the gate and of model-aliases-moved)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.flows.follow_support import Switch, Traffic, check_answers, health, serving_row
from tests.flows.test_promotion import _create_job, _model, _train, with_events
from tests.flows.training_support import add_release, seed_catalog

pytestmark = pytest.mark.slow


@pytest.fixture
def platform(platform_env: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from infra.settings import reset_settings

    monkeypatch.setenv("MLOPS_TRAIN_POLL_SECONDS", "0.3")
    monkeypatch.setenv("MLOPS_PREFECT_RUN_MODE", "inline")
    reset_settings()
    yield platform_env
    from infra.runtime.registry import get_runtime

    runtime = get_runtime()
    for status in runtime.list(labels={"kind": "serve"}):
        runtime.remove(status.name, force=True)


def _promote(seeded: Any, model_id: int, version: int) -> dict[str, Any]:
    from catalog.db import session_scope
    from catalog.services import model_promotion
    from flows.models import promote_model

    with session_scope() as session:
        evaluation = model_promotion.request_promotion(
            session, actor=seeded.admin, model_id=model_id, version=version
        )
    return promote_model(int(evaluation.id or 0))


def test_train_gate_serve_roll_forward_reject_and_roll_back(platform: Any, nats_server: Any) -> None:
    from catalog.db import session_scope
    from catalog.services import model_promotion
    from catalog.services import serving as serving_service
    from flows.models import model_aliases_moved
    from flows.serving import serving_start

    seeded = seed_catalog()
    # v1: too many points flagged (F1 well below 1 on the test split of the evaluation release).
    first = _create_job(seeded, "detector", 0.3)
    _train(first)
    model_id = int(_model_of_job(first))
    assert _promote(seeded, model_id, 1)["status"] == "promoted"

    with session_scope() as session:
        sid = serving_service.create_serving(
            session, actor=seeded.admin, team_id=seeded.team_id, name="live", model_id=model_id,
            model_version="champion",
        ).id  # fmt: skip
    assert serving_start(sid)["state"] == "running"
    assert health(sid)["model_version"] == "1"
    instance = health(sid)["instance_id"]

    # v2: trained on another release, with the contamination the data has: F1 1.0 on the evaluation release.
    better = _create_job(
        seeded, "detector-retrain", 0.01, model=model_id, release_id=add_release(seeded.team_id, "cpu-2")
    )
    worse = _create_job(seeded, "detector-worse", 0.3, model=model_id)
    switches: list[Switch] = []
    with Traffic.to(sid) as traffic:
        traffic.wait_for(10)
        _train(better)
        moved = time.monotonic()
        decided = _promote(seeded, model_id, 2)
        assert decided["status"] == "promoted", decided
        switches.append(Switch(moved, time.monotonic(), "2"))
        assert health(sid)["model_version"] == "2" and serving_row(sid).resolved_version == "2"
        traffic.wait_for(10)

        # v3 is worse than the champion: rejected with its reason, nothing moves, the event is published.
        _train(worse)
        rejected, events = with_events(nats_server, lambda: _promote(seeded, model_id, 3), expect=1)
        assert rejected["status"] == "rejected"
        assert [(e["event"], e["version"], e["champion_version"]) for e in events] == [("rejected", 3, 2)]
        assert "worse than champion v2" in events[0]["reason"]
        assert _model(model_id).champion_version == 2 and health(sid)["model_version"] == "2"
        traffic.wait_for(10)

        # Rollback: v2 → v1, the serving follows the same way.
        moved = time.monotonic()
        with session_scope() as session:
            model_promotion.rollback(session, actor=seeded.admin, model_id=model_id)
        model_aliases_moved(model_id)
        switches.append(Switch(moved, time.monotonic(), "1"))
        assert health(sid)["model_version"] == "1"
        traffic.wait_for(10)
    check_answers(traffic, switches, ["1", "2", "1"])
    assert health(sid)["instance_id"] == instance, "the same server process answered throughout"


def _model_of_job(job_id: int) -> int:
    from tests.flows.training_support import job_row

    return int(job_row(job_id).model_id)
