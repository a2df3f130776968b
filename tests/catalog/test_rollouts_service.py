"""A serving's traffic and its roll-outs through the services on a real catalog: versions only of the serving's own
model (another team's reads as missing, another scenario's and another model are refused by name), bad input
changes nothing, one active roll-out per serving (kept by the database), a person's pause/resume/abort and the
flow's end as conditional updates (an abort that came first wins), and a promotion moving the champion."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from catalog.db import session_scope
from catalog.errors import ConflictError, NotFoundError, ValidationError
from catalog.models import AliasEvent, AuditEvent, Model, Rollout, RolloutDecision, RolloutStatus, Serving
from catalog.services import models, rollouts, teams, traffic
from mlops_lite.schemas.rollouts import StartRollout
from tests.catalog.test_models_service import _add_version, _world

pytestmark = pytest.mark.platform_servers("s3")  # job configs are stored in S3


@pytest.fixture
def world(platform_env: Any, _migrated_template: Path) -> Iterator[dict[str, Any]]:
    import shutil

    from catalog.db import dispose_engines

    dispose_engines()
    shutil.copy(_migrated_template, platform_env.database.url.split("///", 1)[1])
    try:
        ids = _world()
        for version in (2, 3):
            _add_version(ids["job"], version)
        with session_scope() as s:
            serving = s.get(Serving, ids["serving"])
            assert serving is not None
            # As the start flow leaves it: running, serving version 1.
            serving.observed_state, serving.resolved_version = "running", "1"
            s.add(serving)
        yield ids
    finally:
        dispose_engines()


def _serving(sid: int) -> Serving:
    with session_scope() as s:
        serving = s.get(Serving, sid)
        assert serving is not None
        s.expunge(serving)
        return serving


def _traffic(sid: int) -> tuple[Any, ...]:
    sv = _serving(sid)
    return sv.canary_version, sv.canary_weight, sv.shadow_version, sv.routing_header


def test_traffic_sets_versions_of_the_serving_model(world: dict[str, Any]) -> None:
    sid = world["serving"]
    with session_scope() as s:
        traffic.set_traffic(
            s, actor=teams.actor_for(s, username="alice"), serving_id=sid, canary="2", weight=10,
            shadow="3", routing_header="x-user-id",
        )  # fmt: skip
    assert _traffic(sid) == (2, 10, 3, "x-user-id")
    with session_scope() as s:
        traffic.set_traffic(s, actor=teams.actor_for(s, username="alice"), serving_id=sid, weight=40)
    assert _traffic(sid) == (2, 40, 3, "x-user-id")
    with session_scope() as s:
        traffic.set_traffic(s, actor=teams.actor_for(s, username="alice"), serving_id=sid, canary=None)
        audit = s.exec(select(AuditEvent).where(AuditEvent.action == "serving.traffic")).all()
    assert _traffic(sid) == (None, 0, 3, "x-user-id")  # the weight went with the canary
    assert len(audit) == 3 and all(a.outcome == "ok" for a in audit)


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        ({"canary": "2", "weight": 101}, ValidationError, "0-100 percent"),
        ({"weight": 10}, ValidationError, "a weight needs a canary"),
        ({"canary": "1", "weight": 10}, ValidationError, "is the one serving"),
        ({"canary": "9"}, NotFoundError, "9"),
        ({"canary": "champion"}, ValidationError, "has no champion yet"),
        ({"canary": "2", "shadow": "2"}, ValidationError, "cannot shadow itself"),
        ({"routing_header": "X-User\r\nevil"}, ValidationError, "routing header"),
        ({"canary": "2", "model_id": "blue_model"}, NotFoundError, "model"),
        ({"canary": "2", "model_id": "other_scenario"}, ValidationError, "is timeseries_predict"),
        ({"canary": "2", "model_id": "other_model"}, ValidationError, "is another model"),
    ],
)
def test_bad_traffic_changes_nothing(
    world: dict[str, Any], change: dict[str, Any], error: type, words: str
) -> None:
    sid = world["serving"]
    with session_scope() as s:
        alice = teams.actor_for(s, username="alice")
        world["other_scenario"] = models.create_model(
            s, actor=alice, team_id=world["red"], name="fc", scenario="timeseries_predict"
        ).id
        world["other_model"] = models.create_model(
            s, actor=alice, team_id=world["red"], name="m2", scenario="anomaly_detection"
        ).id
    if "model_id" in change:
        change = {**change, "model_id": world[change["model_id"]]}
    before = _traffic(sid)
    with session_scope() as s, pytest.raises(error, match=words):
        traffic.set_traffic(s, actor=teams.actor_for(s, username="alice"), serving_id=sid, **change)
    assert _traffic(sid) == before


def _start(sid: int, **body: Any) -> Rollout:
    with session_scope() as s:
        rollout = rollouts.start_rollout(
            s,
            actor=teams.actor_for(s, username="alice"),
            serving_id=sid,
            request=StartRollout.model_validate({"canary": "2", "dwell_seconds": 5, **body}),
        )
        s.expunge(rollout)
        return rollout


def test_a_rollout_needs_a_running_serving_and_is_alone(world: dict[str, Any]) -> None:
    sid = world["serving"]
    with session_scope() as s:
        serving = s.get(Serving, sid)
        serving.observed_state = "exited"  # type: ignore[union-attr]
        s.add(serving)
    with pytest.raises(ConflictError, match="a roll-out needs it running"):
        _start(sid)
    with session_scope() as s:
        serving = s.get(Serving, sid)
        serving.observed_state = "running"  # type: ignore[union-attr]
        s.add(serving)
    rollout = _start(sid, steps=[20, 100])
    assert (rollout.stable_version, rollout.canary_version, rollout.steps) == (1, 2, [20, 100])
    assert _traffic(sid)[:2] == (2, 0)  # the canary is on, at no weight until the flow's first step
    with pytest.raises(ConflictError, match="has a roll-out under way"):
        _start(sid, canary="3")
    with session_scope() as s, pytest.raises(ConflictError, match="it sets the canary"):
        traffic.set_traffic(s, actor=teams.actor_for(s, username="alice"), serving_id=sid, canary="3")
    with session_scope() as s:
        assert len(s.exec(select(Rollout)).all()) == 1


@pytest.mark.parametrize(
    ("body", "words"),
    [({"steps": [0, 100]}, "greater than or equal to 1"), ({"steps": [10, 101]}, "less than or equal to 100"),
     ({"steps": []}, "at least 1 item"), ({"dwell_seconds": 0}, "greater than or equal to 1"),
     ({"thresholds": {"max_error_rate": 2}}, "less than or equal to 1")],
)  # fmt: skip
def test_bad_rollout_requests_are_refused_by_the_schema(body: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        StartRollout.model_validate({"canary": "2", **body})


def test_steps_are_taken_from_the_smallest_up_to_100() -> None:
    # Every list the API document allows is a roll-out (the fuzzer checks the document is exact).
    assert StartRollout(canary="2", steps=[50, 10, 50]).steps == [10, 50, 100]
    assert StartRollout(canary="2", steps=[100]).steps == [100]


def test_person_controls_and_the_flow_end_race_on_the_database(world: dict[str, Any]) -> None:
    sid = world["serving"]
    rollout = _start(sid)
    rid = rollout.id
    assert rid is not None

    def control(action: str) -> Rollout:
        with session_scope() as s:
            out = rollouts.control_rollout(
                s, actor=teams.actor_for(s, username="alice"), rollout_id=rid, action=action
            )
            s.expunge(out)
            return out

    assert control("pause").status == RolloutStatus.PAUSED
    with session_scope() as s:
        assert not rollouts.set_step(s, rollout_id=rid, step=1)  # a paused roll-out is not stepped
    with pytest.raises(ConflictError, match="cannot pause"):
        control("pause")
    assert control("resume").status == RolloutStatus.RUNNING
    with session_scope() as s:
        assert rollouts.set_step(s, rollout_id=rid, step=1)
    assert _traffic(sid)[:2] == (2, 50)
    assert control("abort").status == RolloutStatus.ABORTED
    assert _traffic(sid)[:2] == (None, 0)
    with session_scope() as s:
        # The flow's verdict came after the abort: it loses, nothing is promoted.
        assert rollouts.finish(s, rollout_id=rid, status=RolloutStatus.PROMOTED, reason="passed") is None
        model = s.get(Model, world["model"])
        actions = [d.action for d in s.exec(select(RolloutDecision).order_by(RolloutDecision.id)).all()]
    assert model is not None and model.champion_version is None
    assert actions == ["pause", "resume", "abort"]


def test_promotion_makes_the_canary_stable_and_champion(world: dict[str, Any]) -> None:
    sid = world["serving"]
    rid = _start(sid).id
    with session_scope() as s:
        done = rollouts.finish(s, rollout_id=rid, status=RolloutStatus.PROMOTED, reason="every step passed")  # type: ignore[arg-type]
        assert done is not None and done.status == RolloutStatus.PROMOTED and done.finished_at is not None
        model = s.get(Model, world["model"])
        event = s.exec(select(AliasEvent).where(AliasEvent.model_id == world["model"])).one()
    assert model is not None and model.champion_version == 2 and event.cause == "rollout"
    with session_scope() as s:
        audit = s.exec(select(AuditEvent).where(AuditEvent.action == "rollout.promote")).one()
    assert audit.actor_id is None and audit.detail["canary_version"] == 2 and audit.team_id == world["red"]
    serving = _serving(sid)
    assert (serving.resolved_version, serving.model_version, serving.canary_version) == ("2", "2", None)
    # A new roll-out may start now (the last one ended).
    assert _start(sid, canary="3").canary_version == 3
