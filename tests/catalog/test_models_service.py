"""Models through the services on a real catalog: the model a job targets, versions only from the job's recorded
runs, version references, the gate's bad input (nothing changed), decisions moving the champion by a conditional
update (a race of two decisions on SQLite and PostgreSQL leaves one champion, both audited), rollback and aliases
by hand, lineage both ways, and migration 0007 making a model of each existing job."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from catalog.db import session_scope
from catalog.errors import NotFoundError, ValidationError
from catalog.model_gate import Decision
from catalog.models import AuditEvent, EvaluationStatus, JobRun, Model, ModelEvaluation, TrainJob
from catalog.scoping import SYSTEM
from catalog.services import model_lineage, model_promotion, models, teams, training
from catalog.services.models import RegisteredVersion
from tests.catalog.isolation_world import team_resources

SCN = "anomaly_detection"
pytestmark = pytest.mark.platform_servers("s3")  # job configs are stored in S3


def _world() -> dict[str, Any]:
    """Team 'red' (alice admin) with a dataset, release, completed job 'red-job' (model v1) and a serving."""
    from catalog.presets import import_presets
    from catalog.services import team_tree

    with session_scope() as s:
        import_presets(s)
        red = team_tree.create_team(s, actor=SYSTEM, name="red")
        blue = team_tree.create_team(s, actor=SYSTEM, name="blue")
        alice = teams.create_user(s, actor=SYSTEM, username="alice", password="alice-pass-123")
        teams.add_member(s, actor=SYSTEM, team_id=red.id, user_id=alice.id, role="admin")  # type: ignore[arg-type]
        ids = {"red": red.id, "blue": blue.id}
    with session_scope() as s:
        ids |= team_resources(s, SYSTEM, ids["red"], "red")
        ids["blue_model"] = team_resources(s, SYSTEM, ids["blue"], "blue")["model"]
    return ids


def _alice(s: Session) -> Any:
    return teams.actor_for(s, username="alice")


def _add_version(
    job_id: int, version: int, *, status: str = "FINISHED", metrics: dict[str, float] | None = None
) -> str:
    """A run recorded for the job that registered ``version`` of its model."""
    run_id = f"run{job_id}v{version}".ljust(32, "0")
    with session_scope() as s:
        s.add(JobRun(run_id=run_id, job_id=job_id, experiment_id="0"))
        s.flush()
        models.record_versions(
            s,
            job_id=job_id,
            versions=[RegisteredVersion(version, run_id, status, metrics or {"f1": 0.6}, {})],
        )
    return run_id


@pytest.fixture
def world(platform_env: Any, _migrated_template: Path) -> Iterator[dict[str, Any]]:
    import shutil

    from catalog.db import dispose_engines

    dispose_engines()
    shutil.copy(_migrated_template, platform_env.database.url.split("///", 1)[1])
    try:
        yield _world()
    finally:
        dispose_engines()


def test_a_job_targets_the_model_named_after_it_or_the_one_given(world: dict[str, Any]) -> None:
    with session_scope() as s:
        alice = _alice(s)
        first = s.get(TrainJob, world["job"])
        model = s.get(Model, first.model_id)
        assert (model.name, model.team_id, first.model_name) == ("red-job", world["red"], model.mlflow_name)
        second, _ = training.create_job(
            s, actor=alice, team_id=world["red"], name="retrain", scenario=SCN, algorithm="EWMA",
            release_id=world["release"], model="red-job", auto_promote=True,
        )  # fmt: skip
        assert (second.model_id, second.model_name, second.auto_promote) == (
            model.id,
            model.mlflow_name,
            True,
        )
        other = models.create_model(
            s, actor=alice, team_id=world["red"], name="logs", scenario="log_clustering"
        )
        other_id = other.id
    for target, error, words in (
        (other_id, ValidationError, "is a log_clustering model"),
        (world["blue_model"], NotFoundError, "not found"),
        ("no-such-model", NotFoundError, "not found"),
    ):
        with pytest.raises(error, match=words), session_scope() as s:
            training.create_job(
                s, actor=_alice(s), team_id=world["red"], name="x", scenario=SCN, algorithm="ECOD",
                release_id=world["release"], model=target,
            )  # fmt: skip
    with session_scope() as s:
        assert s.exec(select(TrainJob).where(TrainJob.name == "x")).first() is None


def test_versions_come_only_from_the_jobs_recorded_runs_and_references_resolve(world: dict[str, Any]) -> None:
    _add_version(world["job"], 2, status="FAILED")
    with session_scope() as s:
        # A run the catalog did not record for the job proves nothing: ignored.
        assert (
            models.record_versions(
                s, job_id=world["job"], versions=[RegisteredVersion(7, "f" * 32, "FINISHED", {}, {})]
            )
            == []
        )
        model = s.get(Model, world["model"])
        assert [v.version for v in models.list_versions(s, actor=_alice(s), model_id=model.id)[1]] == [2, 1]
        assert models.resolve_ref(s, model=model, ref="latest").version == 1  # v2's run failed
        with pytest.raises(ValidationError, match="ended FAILED"):
            models.resolve_ref(s, model=model, ref="2")
        with pytest.raises(ValidationError, match="has no champion yet"):
            models.resolve_ref(s, model=model, ref="champion")
        with pytest.raises(NotFoundError):
            models.resolve_ref(s, model=model, ref="7")
        with pytest.raises(ValidationError, match="must be 'latest', an alias"):
            models.resolve_ref(s, model=model, ref="newest")


def test_bad_promotion_requests_are_refused_and_change_nothing(world: dict[str, Any]) -> None:
    _add_version(world["job"], 2, status="FAILED")
    cases = [
        (world["model"], 9, None, NotFoundError, "version of model 'red-job' 9 not found|not found"),
        (world["model"], 2, None, ValidationError, "ended FAILED"),
        (
            world["model"],
            1,
            "timeseries_predict",
            ValidationError,
            "is a anomaly_detection model|anomaly_detection",
        ),
        (world["blue_model"], 1, None, NotFoundError, "not found"),
    ]
    for model_id, version, scenario, error, words in cases:
        with pytest.raises(error, match=words), session_scope() as s:
            model_promotion.request_promotion(
                s, actor=_alice(s), model_id=model_id, version=version, scenario=scenario
            )
    with session_scope() as s:
        assert s.exec(select(ModelEvaluation)).all() == []
        assert s.get(Model, world["model"]).evaluation_release_id is None
        model_promotion.set_alias(s, actor=SYSTEM, model_id=world["model"], alias="champion", version=1)
    with pytest.raises(ValidationError, match="already the champion"), session_scope() as s:
        model_promotion.request_promotion(s, actor=_alice(s), model_id=world["model"], version=1)


def _decide(evaluation_id: int, expected: int | None, promote: bool = True) -> Any:
    with session_scope() as s:
        return model_promotion.finish_evaluation(
            s,
            evaluation_id=evaluation_id,
            decision=Decision(promote, "because", "f1", "max", 0.9, None),
            champion_version=expected,
            candidate_metrics={"f1": 0.9},
            champion_metrics=None,
        )


def test_a_promotion_fixes_the_evaluation_release_and_moves_the_champion(world: dict[str, Any]) -> None:
    with session_scope() as s:
        evaluation = model_promotion.request_promotion(s, actor=_alice(s), model_id=world["model"], version=1)
        eid = evaluation.id
        assert s.get(Model, world["model"]).evaluation_release_id == world["release"]
        assert model_promotion.claim_evaluation(s, evaluation_id=eid, flow_run_id="fr-1")
        assert model_promotion.claim_evaluation(s, evaluation_id=eid, flow_run_id="fr-1")  # a retry re-claims
        assert not model_promotion.claim_evaluation(s, evaluation_id=eid, flow_run_id="fr-2")
    outcome = _decide(eid, None)
    assert outcome.promoted and outcome.evaluation.status == EvaluationStatus.PROMOTED
    with session_scope() as s:
        model = s.get(Model, world["model"])
        assert (model.champion_version, model.alias_revision, model.aliases_synced) == (1, 1, 0)
        assert [m.id for m in model_promotion.aliases_to_sync(s)] == [model.id]
        model_promotion.mark_aliases_synced(s, model_id=model.id, revision=1)
        assert model_promotion.aliases_to_sync(s) == []
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "model.promote")).one()
        assert (event.actor_name, event.outcome, event.detail["decision"]) == ("alice", "ok", "promoted")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_database(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """The world on a freshly migrated catalog of each kind (platform_env uses PostgreSQL when asked for it)."""
    from catalog.db import dispose_engines, migrate

    if request.param == "postgresql":
        request.getfixturevalue("postgres_url")
    request.getfixturevalue("platform_env")
    dispose_engines()
    migrate()
    try:
        yield _world()
    finally:
        dispose_engines()


def test_two_decisions_at_once_leave_one_champion_and_both_audited(any_database: dict[str, Any]) -> None:
    world = any_database
    _add_version(world["job"], 2)
    with session_scope() as s:
        ids = [
            model_promotion.request_promotion(s, actor=_alice(s), model_id=world["model"], version=v).id
            for v in (1, 2)
        ]
    barrier = threading.Barrier(2)
    outcomes: dict[int, Any] = {}

    def decide(eid: int) -> None:
        barrier.wait()
        outcomes[eid] = _decide(eid, None)

    threads = [threading.Thread(target=decide, args=(eid,)) for eid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(o.promoted for o in outcomes.values()) == [False, True]
    loser = next(o for o in outcomes.values() if not o.promoted)
    assert "the champion changed from vNone" in loser.evaluation.reason
    with session_scope() as s:
        model = s.get(Model, world["model"])
        winner = next(o for o in outcomes.values() if o.promoted).evaluation.version
        assert model.champion_version == winner
        audits = s.exec(select(AuditEvent).where(AuditEvent.action == "model.promote")).all()
        assert sorted(a.outcome for a in audits) == ["denied", "ok"]
        assert len(model_promotion.history(s, model_id=model.id)) == 1


def test_rollback_walks_back_through_champions_and_aliases_move_by_hand(world: dict[str, Any]) -> None:
    for v in (2, 3):
        _add_version(world["job"], v)
    with pytest.raises(ValidationError, match="no earlier champion"), session_scope() as s:
        model_promotion.rollback(s, actor=_alice(s), model_id=world["model"])
    with session_scope() as s:
        alice = _alice(s)
        for v in (1, 2, 3):
            model_promotion.set_alias(s, actor=alice, model_id=world["model"], alias="champion", version=v)
        assert model_promotion.rollback(s, actor=alice, model_id=world["model"]).champion_version == 2
        assert model_promotion.rollback(s, actor=alice, model_id=world["model"]).champion_version == 1
        model_promotion.set_alias(s, actor=alice, model_id=world["model"], alias="challenger", version=3)
        model = s.get(Model, world["model"])
        assert (model.champion_version, model.challenger_version) == (1, 3)
        causes = [
            (e.alias, e.version, e.cause)
            for e in model_promotion.alias_history(s, actor=alice, model_id=model.id)
        ]
        assert causes[-3:] == [
            ("champion", 2, "rollback"),
            ("champion", 1, "rollback"),
            ("challenger", 3, "manual"),
        ]
    with pytest.raises(ValidationError, match="no earlier champion"), session_scope() as s:
        model_promotion.rollback(s, actor=_alice(s), model_id=world["model"])


def test_a_member_may_not_set_aliases_by_hand_but_a_maintainer_may_promote(world: dict[str, Any]) -> None:
    from catalog.errors import PermissionDeniedError

    with session_scope() as s:
        for name, role in (("mia", "member"), ("max", "maintainer")):
            user = teams.create_user(s, actor=SYSTEM, username=name, password="long enough pass")
            teams.add_member(s, actor=SYSTEM, team_id=world["red"], user_id=user.id, role=role)  # type: ignore[arg-type]
    with pytest.raises(PermissionDeniedError, match="models:manage"), session_scope() as s:
        model_promotion.set_alias(
            s, actor=teams.actor_for(s, username="max"), model_id=world["model"], alias="champion", version=1
        )
    with pytest.raises(PermissionDeniedError, match="models:promote"), session_scope() as s:
        model_promotion.request_promotion(
            s, actor=teams.actor_for(s, username="mia"), model_id=world["model"], version=1
        )
    with session_scope() as s:
        model_promotion.request_promotion(
            s, actor=teams.actor_for(s, username="max"), model_id=world["model"], version=1
        )


def test_gate_configuration_is_validated(world: dict[str, Any]) -> None:
    with session_scope() as s:
        logs = models.create_model(
            s, actor=_alice(s), team_id=world["red"], name="lg", scenario="log_clustering"
        ).id
    bad: list[tuple[dict[str, Any], str]] = [
        ({"metric": "mape"}, "not a gate metric of anomaly_detection"),
        ({"tolerance": -0.1}, "must not be negative"),
        ({"threshold": float("nan")}, "finite number"),
        ({"threshold": True}, "finite number"),
        ({"clear": ["tolerance"]}, "cannot clear"),
    ]
    for kwargs, words in bad:
        with pytest.raises(ValidationError, match=words), session_scope() as s:
            models.configure_gate(s, actor=_alice(s), model_id=world["model"], **kwargs)
    with pytest.raises(ValidationError, match="not log_clustering"), session_scope() as s:
        models.configure_gate(s, actor=_alice(s), model_id=logs, evaluation_release_id=world["release"])
    with session_scope() as s:
        model = models.configure_gate(
            s, actor=_alice(s), model_id=world["model"], metric="roc_auc", threshold=0.7, tolerance=0.02
        )
        assert models.gate_of(model) == {
            "metric": "roc_auc", "threshold": 0.7, "tolerance": 0.02, "evaluation_release_id": None,
        }  # fmt: skip


def test_lineage_both_ways(world: dict[str, Any]) -> None:
    with session_scope() as s:
        alice = _alice(s)
        lineage = model_lineage.version_lineage(s, actor=alice, model_id=world["model"], version=1)
        assert lineage["job"]["algorithm"] == "ECOD" and lineage["job"]["id"] == world["job"]
        release = lineage["release"]
        assert (release["id"], release["version"], release["sha256"]) == (world["release"], "v1", "1" * 64)
        assert release["entries"][0]["name"] == "red.csv" and release["entries"][0]["splits"] == ["train"]
        assert release["dataset"]["name"] == "red-ds"
        reverse = model_lineage.release_lineage(s, actor=alice, release_id=world["release"])
        assert [(v["model"]["id"], v["version"]) for v in reverse["versions"]] == [(world["model"], 1)]


def test_migration_0007_makes_a_model_of_each_existing_job(platform_env: Any) -> None:
    """Down to 0006 (jobs with a registered-model name, servings of jobs) and up again: each job's model is made
    from its name, keeping the MLflow name, and each serving serves its job's model."""
    from alembic import command

    from catalog.db import alembic_config, dispose_engines, migrate

    dispose_engines()
    migrate()
    world = _world()
    with session_scope() as s:
        before = s.get(Model, world["model"])
        mlflow_name = before.mlflow_name
    command.downgrade(alembic_config(), "0006")
    dispose_engines()
    migrate()
    with session_scope() as s:
        rows = s.exec(select(Model).order_by(Model.id)).all()
        model = next(m for m in rows if m.mlflow_name == mlflow_name)
        assert (model.team_id, model.name, model.scenario) == (world["red"], "red-job", SCN)
        assert s.get(TrainJob, world["job"]).model_id == model.id
        serving_model = s.exec(
            text(f"SELECT model_id FROM serving WHERE id = {world['serving']}")
        ).scalar_one()
        assert serving_model == model.id
        # The versions are read back from MLflow by the backfill: the job's recorded run is its work list.
        assert world["job"] in models.models_missing_versions(s)
    dispose_engines()
