"""The promotion gate end to end on real servers (SeaweedFS, MLflow, Prefect, NATS) with the process runtime: tiny
ECOD jobs train versions, ``promote-model`` evaluates candidate and champion in one evaluation container and
decides; MLflow's aliases and tags follow the catalog; events reach a subscriber using the client user's
credentials; concurrent promotions, auto-promotion at a training's end, a failed evaluation, aliases moved by
hand and by rollback, the start-up backfill of versions, and reproducible training runs.

One world per module: a team, a release, and the models below, trained once (ECOD is deterministic).
- ``gate``: job A (contamination 0.01: F1 1.0 on the test split) → v1, job B (0.3: F1 0.06) → v2;
- ``twin``: job C started twice on the same release → v1 and v2, equal metrics.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from tests.flows.training_support import Seeded, add_release, in_thread, seed_catalog

pytestmark = pytest.mark.slow
T = TypeVar("T")
WAIT = 60.0  # upper bound for events that normally take milliseconds; never a pause


@dataclass(frozen=True)
class World:
    seeded: Seeded
    gate_model: int
    twin_model: int
    job_a: int
    job_b: int
    job_c: int


def _create_job(seeded: Seeded, name: str, contamination: float, **extra: Any) -> int:
    from catalog.db import session_scope
    from catalog.services import training as tr

    with session_scope() as session:
        job, _ = tr.create_job(
            session,
            actor=seeded.admin,
            team_id=seeded.team_id,
            name=name,
            scenario="anomaly_detection",
            algorithm="ECOD",
            params={"contamination": contamination},
            **({"release_id": seeded.release_id} | extra),
        )
        return int(job.id or 0)


def _train(job_id: int) -> None:
    from flows.training import train

    outcome = train(job_id)
    assert outcome["status"] == "completed", outcome


def _model_of(job_id: int) -> int:
    from tests.flows.training_support import job_row

    return int(job_row(job_id).model_id)


@pytest.fixture(scope="module")
def world(module_platform_env) -> Iterator[World]:  # type: ignore[no-untyped-def]
    from infra.settings import reset_settings

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLOPS_TRAIN_POLL_SECONDS", "0.3")
        mp.setenv("MLOPS_PREFECT_RUN_MODE", "inline")  # auto-promotion runs the gate as a subflow
        reset_settings()
        seeded = seed_catalog()
        job_a = _create_job(seeded, "gate", 0.01)
        gate_model = _model_of(job_a)
        job_b = _create_job(seeded, "gate-worse", 0.3, model=gate_model)
        job_c = _create_job(seeded, "twin", 0.01)
        for job_id in (job_a, job_b, job_c, job_c):
            _train(job_id)
        yield World(seeded, gate_model, _model_of(job_c), job_a, job_b, job_c)
    reset_settings()


def _model(model_id: int) -> Any:
    from catalog.db import session_scope
    from catalog.models import Model

    with session_scope() as session:
        return session.get(Model, model_id)


def _evaluation(evaluation_id: int) -> Any:
    from catalog.db import session_scope
    from catalog.models import ModelEvaluation

    with session_scope() as session:
        return session.get(ModelEvaluation, evaluation_id)


def _request(world: World, model_id: int, version: int) -> int:
    from catalog.db import session_scope
    from catalog.services import model_promotion

    with session_scope() as session:
        evaluation = model_promotion.request_promotion(
            session, actor=world.seeded.admin, model_id=model_id, version=version
        )
        return int(evaluation.id or 0)


def _mlflow_alias(model_id: int, alias: str = "champion") -> int | None:
    from infra import tracking

    return tracking.model_aliases(tracking.client(), _model(model_id).mlflow_name).get(alias)


def _audits(world: World, evaluation_id: int) -> list[Any]:
    from catalog.db import session_scope
    from catalog.services.audit import list_events

    with session_scope() as session:
        _, rows = list_events(session, actor=world.seeded.admin, action="model.promote", limit=500)
    return [r for r in rows if r.detail.get("evaluation_id") == evaluation_id]


def with_events(nats_server: Any, action: Callable[[], T], *, expect: int) -> tuple[T, list[dict[str, Any]]]:
    """Run ``action`` while a subscriber with the CLIENT user's credentials listens to the model events; the
    action's result and the events that arrived (waiting, with a deadline, for ``expect`` of them)."""
    from infra.settings import get_settings

    subject = f"{get_settings().nats.namespace}.events.model"

    async def scenario() -> tuple[T, list[dict[str, Any]]]:
        nc = await nats_server.connect_client()
        got: list[dict[str, Any]] = []

        async def on_msg(msg: Any) -> None:
            got.append(json.loads(msg.data))

        await nc.subscribe(subject, cb=on_msg)
        await nc.flush()
        try:
            result = await asyncio.to_thread(action)
            deadline = time.monotonic() + WAIT
            while len(got) < expect and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await nc.flush()
        finally:
            await nc.close()
        return result, got

    return asyncio.run(scenario())


def test_gate_promotes_the_first_champion_then_rejects_a_worse_version(world: World, nats_server) -> None:  # type: ignore[no-untyped-def]
    from flows.models import promote_model
    from infra import tracking

    first = _request(world, world.gate_model, 1)
    summary, events = with_events(nats_server, lambda: promote_model(first), expect=1)
    assert summary["status"] == "promoted", summary
    evaluation = _evaluation(first)
    assert evaluation.status == "promoted" and evaluation.metric == "f1" and evaluation.candidate_value == 1.0
    assert evaluation.champion_version is None and evaluation.reason == "v1 is the first champion (f1 1)"
    assert evaluation.candidate_metrics["anomaly_rate"] == pytest.approx(0.01)
    model = _model(world.gate_model)
    assert model.champion_version == 1 and model.aliases_synced == model.alias_revision
    # MLflow agrees with the catalog: the alias, the version's gate tags, gate_f1 on its run at step = evaluation.
    mlflow = tracking.client()
    assert mlflow.get_model_version_by_alias(model.mlflow_name, "champion").version == "1"
    tags = mlflow.get_model_version(model.mlflow_name, "1").tags
    assert tags["mlops.gate.status"] == "promoted" and tags["mlops.gate.metric"] == "f1"
    assert tags["mlops.gate.evaluation_id"] == str(first)
    run_id = mlflow.get_model_version(model.mlflow_name, "1").run_id
    assert [(m.step, m.value) for m in mlflow.get_metric_history(run_id, "gate_f1")] == [(first, 1.0)]
    assert [(a.outcome, a.actor_name) for a in _audits(world, first)] == [("ok", "admin")]
    assert [(e["event"], e["version"], e["champion_version"]) for e in events] == [("promoted", 1, 1)]

    # A worse v2 (F1 0.06 against the champion's 1.0 on the same release) is rejected with its reason.
    second = _request(world, world.gate_model, 2)
    summary, events = with_events(nats_server, lambda: promote_model(second), expect=1)
    evaluation = _evaluation(second)
    assert summary["status"] == evaluation.status == "rejected"
    assert evaluation.reason.startswith("f1 0.06452 of v2 is worse than champion v1's 1 by 0.9355")
    assert evaluation.champion_version == 1 and evaluation.champion_metrics["f1"] == 1.0
    assert _model(world.gate_model).champion_version == 1 and _mlflow_alias(world.gate_model) == 1
    assert mlflow.get_model_version(model.mlflow_name, "2").tags["mlops.gate.status"] == "rejected"
    assert [a.outcome for a in _audits(world, second)] == ["denied"]
    assert len(events) == 1 and events[0] == {
        "event": "rejected",
        "model_id": world.gate_model,
        "model": "gate",
        "team_id": world.seeded.team_id,
        "scenario": "anomaly_detection",
        "version": 2,
        "champion_version": 1,
        "reason": evaluation.reason,
        "evaluation_id": second,
        "at": events[0]["at"],
    }
    # Another flow run cannot take a decided evaluation: refused, nothing changes.
    state = promote_model(second, return_state=True)
    assert state.is_failed() and f"evaluation {second} is rejected under flow run" in str(state.message)
    assert _evaluation(second).status == "rejected" and _model(world.gate_model).champion_version == 1


def test_a_failed_evaluation_moves_nothing_and_says_why(world: World, nats_server) -> None:  # type: ignore[no-untyped-def]
    from catalog.db import session_scope
    from catalog.models import DatasetRelease
    from catalog.services import models
    from flows.models import promote_model

    # An evaluation release whose bytes no longer match its checksum: the container refuses it.
    broken = add_release(world.seeded.team_id, name="tampered")
    previous = _model(world.gate_model).evaluation_release_id
    with session_scope() as session:
        release = session.get(DatasetRelease, broken)
        release.sha256 = "0" * 64  # type: ignore[union-attr]
        session.add(release)
        models.configure_gate(
            session, actor=world.seeded.admin, model_id=world.gate_model, evaluation_release_id=broken
        )
    try:
        evaluation_id = _request(world, world.gate_model, 2)
        before = _model(world.gate_model)
        state, events = with_events(
            nats_server, lambda: promote_model(evaluation_id, return_state=True), expect=1
        )
        assert state.is_failed() and "checksum mismatch" in str(state.message)
        evaluation = _evaluation(evaluation_id)
        assert evaluation.status == "failed" and "checksum mismatch" in evaluation.reason
        assert "the evaluation container failed (exit code 1)" in evaluation.reason
        after = _model(world.gate_model)
        assert (after.champion_version, after.alias_revision) == (
            before.champion_version,
            before.alias_revision,
        )
        assert _mlflow_alias(world.gate_model) == 1
        assert [a.outcome for a in _audits(world, evaluation_id)] == ["error"]
        assert [(e["event"], e["evaluation_id"]) for e in events] == [("evaluation_failed", evaluation_id)]
        assert "checksum mismatch" in events[0]["reason"]
        from infra.runtime.registry import get_runtime

        assert get_runtime().status([f"eval-{evaluation_id}"])[f"eval-{evaluation_id}"].state == "not_found"
    finally:
        with session_scope() as session:
            models.configure_gate(
                session, actor=world.seeded.admin, model_id=world.gate_model, evaluation_release_id=previous
            )


def test_an_evaluation_whose_flow_run_died_is_failed_by_the_reconciler(world: World, nats_server) -> None:  # type: ignore[no-untyped-def]
    import uuid

    from catalog.db import session_scope
    from catalog.services import model_promotion
    from flows.models import reconcile_models_quietly

    evaluation_id = _request(world, world.gate_model, 2)
    dead = str(
        uuid.uuid4()
    )  # a flow run Prefect does not know (as one whose runner was killed and forgotten)
    with session_scope() as session:
        assert model_promotion.claim_evaluation(session, evaluation_id=evaluation_id, flow_run_id=dead)
    before = _model(world.gate_model)
    _, events = with_events(nats_server, reconcile_models_quietly, expect=1)
    evaluation = _evaluation(evaluation_id)
    assert evaluation.status == "failed"
    assert evaluation.reason == f"the evaluation was interrupted: flow run {dead} no longer exists; ask again"
    assert _model(world.gate_model).alias_revision == before.alias_revision
    assert [(e["event"], e["evaluation_id"]) for e in events] == [("evaluation_failed", evaluation_id)]


def test_concurrent_promotions_end_with_one_champion_then_hand_moves_and_rollback(
    world: World, nats_server
) -> None:  # type: ignore[no-untyped-def]
    from catalog.db import session_scope
    from catalog.services import model_promotion
    from flows.models import model_aliases_moved, promote_model

    ids = [_request(world, world.twin_model, 1), _request(world, world.twin_model, 2)]
    futures = [in_thread(promote_model, evaluation_id) for evaluation_id in ids]
    summaries = [f.result(timeout=300) for f in futures]
    rows = [_evaluation(i) for i in ids]
    assert {r.status for r in rows} <= {"promoted", "rejected"} and "promoted" in {r.status for r in rows}
    for row in rows:
        if row.status == "rejected":  # both compared with no champion: the second to finish lost the race
            assert "the champion changed from vNone to v" in row.reason, row.reason
    model = _model(world.twin_model)
    with session_scope() as session:
        moves = [
            (m.alias, m.version, m.evaluation_id) for m in model_promotion.history(session, model_id=model.id)
        ]
    promoted = [r for r in rows if r.status == "promoted"]
    assert moves == [("champion", r.version, r.id) for r in sorted(promoted, key=lambda r: r.finished_at)]
    assert (
        model.champion_version == moves[-1][1] and _mlflow_alias(world.twin_model) == model.champion_version
    )
    for evaluation_id, summary in zip(ids, summaries, strict=True):
        assert summary["status"] == _evaluation(evaluation_id).status
        assert len(_audits(world, evaluation_id)) == 1  # both decisions audited

    # By hand (models:manage) and back by rollback: MLflow follows each move, and each is published.
    champion = model.champion_version
    other = 2 if champion == 1 else 1
    with session_scope() as session:
        model_promotion.set_alias(
            session, actor=world.seeded.admin, model_id=world.twin_model, alias="champion", version=other
        )
    result, events = with_events(nats_server, lambda: model_aliases_moved(world.twin_model), expect=1)
    assert result == {"model_id": world.twin_model, "mlflow_synced": True, "event": "alias_set"}
    assert _mlflow_alias(world.twin_model) == other
    assert [(e["event"], e["version"], e["champion_version"]) for e in events] == [
        ("alias_set", other, other)
    ]
    with session_scope() as session:
        model_promotion.rollback(session, actor=world.seeded.admin, model_id=world.twin_model)
    result, events = with_events(nats_server, lambda: model_aliases_moved(world.twin_model), expect=1)
    assert result["event"] == "rolled_back" and _mlflow_alias(world.twin_model) == champion
    assert events[0]["reason"] == f"champion rolled back from v{other} to v{champion} by admin"


def test_retraining_on_the_same_release_reproduces_the_metrics_and_versions_are_backfilled(
    world: World,
) -> None:
    from sqlalchemy import delete

    from catalog.db import session_scope
    from catalog.models import ModelVersion
    from flows.models import reconcile_models_quietly
    from infra import tracking

    def recorded() -> list[Any]:
        with session_scope() as session:
            rows = session.query(ModelVersion).filter(ModelVersion.job_id == world.job_c).all()
            return sorted(rows, key=lambda r: r.version)

    first, second = recorded()
    assert (first.version, second.version) == (1, 2) and first.run_id != second.run_id
    mlflow = tracking.client()

    def training_metrics(run_id: str) -> dict[str, float]:
        metrics = mlflow.get_run(run_id).data.metrics
        # Durations differ by nature; gate_* are the gate's, logged later on the same runs.
        return {k: v for k, v in metrics.items() if "seconds" not in k and not k.startswith("gate_")}

    again = training_metrics(second.run_id)
    assert again == training_metrics(first.run_id) and {"f1", "threshold", "eval_anomaly_rate"} <= set(again)
    assert {k: v for k, v in first.metrics.items() if k in again} == again

    # Versions the catalog lacks (as after the migration) are read back from the job's recorded runs.
    from catalog.services.models import models_missing_versions

    with session_scope() as session:
        assert world.job_c not in models_missing_versions(session)
        session.exec(delete(ModelVersion).where(ModelVersion.job_id == world.job_c))  # type: ignore[call-overload]
    with session_scope() as session:
        assert world.job_c in models_missing_versions(session)
    reconcile_models_quietly()
    restored = recorded()
    assert [(r.version, r.run_id, r.run_status) for r in restored] == [
        (1, first.run_id, "FINISHED"),
        (2, second.run_id, "FINISHED"),
    ]
    with session_scope() as session:
        assert models_missing_versions(session) == []


def test_auto_promotion_runs_the_gate_at_the_end_of_training_and_a_no_never_fails_the_job(
    world: World,
) -> None:
    from catalog.db import session_scope
    from catalog.services import models
    from catalog.services.model_promotion import list_evaluations
    from tests.flows.training_support import job_row

    job_id = _create_job(world.seeded, "auto", 0.01, auto_promote=True)
    model_id = _model_of(job_id)
    # A bar no version can pass (F1 is at most 1): the gate says no, the training still completes.
    with session_scope() as session:
        models.configure_gate(session, actor=world.seeded.admin, model_id=model_id, threshold=1.5)
    _train(job_id)
    assert job_row(job_id).status == "completed"
    with session_scope() as session:
        (evaluation,) = list_evaluations(session, actor=world.seeded.admin, model_id=model_id)[1]
        (version,) = models.list_versions(session, actor=world.seeded.admin, model_id=model_id)[1]
    assert (evaluation.status, evaluation.version, evaluation.automatic) == ("rejected", 1, True)
    assert evaluation.requested_by == world.seeded.admin.user_id  # asked as the job's creator
    assert evaluation.reason == "f1 1 of v1 is below the threshold 1.5"
    assert evaluation.candidate_metrics["f1"] == 1.0  # measured by the evaluation container
    assert (version.version, version.run_id) == (1, job_row(job_id).mlflow_run_id)
    assert _model(model_id).champion_version is None and _mlflow_alias(model_id) is None

    # The gate is asked as the creator, with the creator's permissions at that moment: a viewer gets nothing.
    from catalog.models import ModelEvaluation, TrainJob
    from catalog.services import teams
    from catalog.services.audit import list_events
    from flows.models import after_training

    with session_scope() as session:
        viewer = teams.create_user(
            session, actor=world.seeded.admin, username="viewer", password="viewer-pass-1"
        )
        teams.add_member(
            session, actor=world.seeded.admin, team_id=world.seeded.team_id, user_id=viewer.id, role="viewer"
        )
        job = session.get(TrainJob, world.job_b)
        job.created_by, job.auto_promote = viewer.id, True  # type: ignore[union-attr]
        session.add(job)
        before = session.query(ModelEvaluation).count()
    try:
        after_training(world.job_b, job_row(world.job_b).mlflow_run_id)
        with session_scope() as session:
            assert session.query(ModelEvaluation).count() == before
            _, refused = list_events(session, actor=world.seeded.admin, actor_name="viewer", limit=10)
        # Refused by the permission check itself (``@requires``), before the request is looked at.
        assert [(e.action, e.outcome) for e in refused] == [("model_promotion.request_promotion", "denied")]
    finally:
        with session_scope() as session:
            job = session.get(TrainJob, world.job_b)
            job.created_by, job.auto_promote = world.seeded.admin.user_id, False  # type: ignore[union-attr]
            session.add(job)
