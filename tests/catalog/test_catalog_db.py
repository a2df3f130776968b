"""The catalog schema on SQLite and PostgreSQL: migrations, a round trip through every table, constraints."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import delete, inspect, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import Session, SQLModel, select

from catalog.db import alembic_config, dispose_engines, get_engine, migrate, session_scope
from catalog.models import (
    AlgorithmConfig,
    AuditEvent,
    Dataset,
    DatasetEntry,
    DatasetRelease,
    JobStatus,
    Membership,
    ReleaseStatus,
    RevokedToken,
    Serving,
    Team,
    TrainJob,
    User,
)
from infra.settings import reset_settings

TABLES = {
    "team",
    "user_account",
    "membership",
    "algorithm_config",
    "dataset",
    "dataset_entry",
    "dataset_release",
    "train_job",
    "serving",
    "audit_event",
    "alembic_version",
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty catalog database (not migrated) of each kind, set as MLOPS_DATABASE_URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'catalog.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    monkeypatch.setenv("MLOPS_DATABASE_URL", url)
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    reset_settings()
    dispose_engines()
    yield url
    # Before postgres_url drops the database: no connection of ours may still hold it.
    dispose_engines()
    reset_settings()


def _refused(session: Session, *rows: SQLModel) -> None:
    """Adding these rows violates a constraint; the transaction carries on (savepoint)."""
    with pytest.raises(IntegrityError), session.begin_nested():
        for row in rows:
            session.add(row)
        session.flush()


def _head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _version() -> str | None:
    with get_engine().connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def test_migrate_creates_every_table_and_is_idempotent(db_url: str) -> None:
    migrate()
    migrate()
    assert TABLES <= set(inspect(get_engine()).get_table_names())
    assert _version() == _head() != "0001"


def test_migrations_match_the_table_definitions(db_url: str) -> None:
    """What the migrations build is what the models declare: columns, types, indexes, constraints."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    migrate()
    with get_engine().connect() as conn:
        diffs = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
        )
    assert diffs == []


def _indexes(table: str) -> dict[str, list[str]]:
    return {ix["name"]: ix["column_names"] for ix in inspect(get_engine()).get_indexes(table)}  # type: ignore[misc]


def test_team_scenario_name_indexes_upgrade_and_downgrade(db_url: str) -> None:
    from alembic import command

    migrate()
    wanted = {"train_job": "ix_train_job_team_scenario_name", "serving": "ix_serving_team_scenario_name"}
    for table, name in wanted.items():
        assert _indexes(table)[name] == ["team_id", "scenario", "name"]
    with session_scope() as s:  # rows survive the downgrade and the upgrade again
        s.add(Team(name="red"))
    command.downgrade(alembic_config(), "0001")
    dispose_engines()  # the inspector caches nothing, but the pool may hold a connection from before
    assert _version() == "0001"
    for table, name in wanted.items():
        assert name not in _indexes(table)
    migrate()
    assert _version() == _head()
    for table, name in wanted.items():
        assert _indexes(table)[name] == ["team_id", "scenario", "name"]
    with session_scope() as s:
        assert [t.name for t in s.exec(select(Team)).all()] == ["red"]


def test_round_trip_through_every_table(db_url: str) -> None:
    migrate()
    with session_scope() as s:
        team = Team(name="red", description="the red team")
        user = User(username="alice", password_hash="$argon2id$x", is_superuser=False)
        s.add_all([team, user])
        s.flush()
        s.add(Membership(user_id=user.id, team_id=team.id, role="admin"))
        algo = AlgorithmConfig(
            scenario="anomaly_detection",
            name="ECOD",
            display_name="ECOD",
            image="mlops-lite/runtime:latest",
            form_config={"fields": [{"name": "contamination", "type": "float", "default": 0.1}]},
            search_space={"contamination": {"type": "uniform", "low": 0.01, "high": 0.3}},
        )
        dataset = Dataset(team_id=team.id, scenario="anomaly_detection", name="cpu", created_by=user.id)
        s.add_all([algo, dataset])
        s.flush()
        entry = DatasetEntry(
            dataset_id=dataset.id,
            name="cpu.csv",
            object_key="datasets/1/cpu.csv",
            sha256="a" * 64,
            size_bytes=123,
            summary={"rows": 10, "columns": ["timestamp", "value"]},
        )
        s.add(entry)
        s.flush()
        release = DatasetRelease(
            dataset_id=dataset.id,
            version="v1",
            status=ReleaseStatus.PUBLISHED,
            entries=[{"entry_id": entry.id, "name": "cpu.csv", "splits": ["train"]}],
            split_counts={"train": 10},
        )
        s.add(release)
        s.flush()
        job = TrainJob(
            team_id=team.id,
            scenario="anomaly_detection",
            name="job1",
            algorithm_id=algo.id,
            release_id=release.id,
            params={"contamination": 0.2, "lags": [1, 2]},
            max_evals=3,
            status=JobStatus.RUNNING,
        )
        s.add(job)
        s.flush()
        s.add(
            Serving(team_id=team.id, scenario="anomaly_detection", name="srv", train_job_id=job.id, port=8001)
        )
        s.add(
            AuditEvent(
                actor_id=user.id,
                actor_name="alice",
                team_id=team.id,
                action="dataset.create",
                resource_type="dataset",
                resource_id=str(dataset.id),
                detail={"name": "cpu"},
            )
        )
        ids = {"team": team.id, "user": user.id, "algo": algo.id, "dataset": dataset.id, "job": job.id}
    dispose_engines()  # read back through new connections: nothing cached

    with session_scope() as s:
        assert s.get(Membership, (ids["user"], ids["team"])).role == "admin"
        algo = s.get(AlgorithmConfig, ids["algo"])
        assert algo.form_config["fields"][0] == {"name": "contamination", "type": "float", "default": 0.1}
        assert algo.enabled is True and algo.builtin is False and algo.created_at is not None
        job = s.get(TrainJob, ids["job"])
        assert job.params == {"contamination": 0.2, "lags": [1, 2]} and job.status == "running"
        release = s.exec(select(DatasetRelease).where(DatasetRelease.dataset_id == ids["dataset"])).one()
        assert release.entries[0]["splits"] == ["train"] and release.split_counts == {"train": 10}
        entry = s.exec(select(DatasetEntry)).one()
        assert entry.summary["columns"] == ["timestamp", "value"] and entry.is_train and not entry.is_test
        serving = s.exec(select(Serving)).one()
        assert serving.desired_state == "running" and serving.observed_state == "unknown"
        event = s.exec(select(AuditEvent)).one()
        assert event.detail == {"name": "cpu"} and event.outcome == "ok"


def test_unique_and_foreign_key_constraints(db_url: str) -> None:
    migrate()
    with session_scope() as s:
        team = Team(name="red")
        user = User(username="alice", password_hash="h")
        algo = AlgorithmConfig(scenario="anomaly_detection", name="ECOD", display_name="E", image="i")
        s.add_all([team, user, algo])
        s.flush()
        s.add(Membership(user_id=user.id, team_id=team.id))
        dataset = Dataset(team_id=team.id, scenario="anomaly_detection", name="cpu")
        s.add(dataset)
        s.flush()
        release = DatasetRelease(dataset_id=dataset.id, version="v1")
        s.add(release)
        s.flush()
        job = TrainJob(
            team_id=team.id,
            scenario="anomaly_detection",
            name="j",
            algorithm_id=algo.id,
            release_id=release.id,
        )
        s.add(job)
        s.flush()
        s.add(Serving(team_id=team.id, scenario="anomaly_detection", name="srv", train_job_id=job.id))
        s.flush()

        same: list[Callable[[], SQLModel]] = [
            lambda: Team(name="red"),
            lambda: User(username="alice", password_hash="h"),
            lambda: Membership(user_id=user.id, team_id=team.id),
            lambda: AlgorithmConfig(scenario="anomaly_detection", name="ECOD", display_name="E", image="i"),
            lambda: Dataset(team_id=team.id, scenario="anomaly_detection", name="cpu"),
            lambda: DatasetRelease(dataset_id=dataset.id, version="v1"),
            lambda: TrainJob(
                team_id=team.id,
                scenario="anomaly_detection",
                name="j",
                algorithm_id=algo.id,
                release_id=release.id,
            ),
            lambda: Serving(team_id=team.id, scenario="anomaly_detection", name="srv", train_job_id=job.id),
        ]
        for make in same:
            _refused(s, make())
        # Foreign keys hold on SQLite too (the engine turns them on).
        _refused(s, DatasetEntry(dataset_id=9999, name="x", object_key="k", sha256="0"))
        _refused(s, Dataset(team_id=9999, scenario="anomaly_detection", name="orphan"))

        # What is unique per team or per scenario is not unique globally.
        other = Team(name="blue")
        s.add(other)
        s.flush()
        s.add(Dataset(team_id=other.id, scenario="anomaly_detection", name="cpu"))
        s.add(Dataset(team_id=team.id, scenario="log_clustering", name="cpu"))
        s.add(AlgorithmConfig(scenario="timeseries_predict", name="ECOD", display_name="E", image="i"))
        s.flush()


def test_deleting_a_dataset_cascades_to_its_entries_and_a_user_to_memberships(db_url: str) -> None:
    migrate()
    with session_scope() as s:
        team = Team(name="red")
        user = User(username="alice", password_hash="h")
        s.add_all([team, user])
        s.flush()
        s.add(Membership(user_id=user.id, team_id=team.id))
        keep, drop = (
            Dataset(team_id=team.id, scenario="anomaly_detection", name=n) for n in ("keep", "drop")
        )
        s.add_all([keep, drop])
        s.flush()
        for ds in (keep, drop, drop):
            s.add(DatasetEntry(dataset_id=ds.id, name="f.csv", object_key=f"k/{ds.id}", sha256="0"))
        ids = (keep.id, drop.id, user.id)
    with session_scope() as s:
        # Plain SQL DELETEs: the cascade must come from the database, not from the ORM.
        s.exec(delete(Dataset).where(Dataset.id == ids[1]))  # type: ignore[call-overload]
        s.exec(delete(User).where(User.id == ids[2]))  # type: ignore[call-overload]
    with session_scope() as s:
        remaining = s.exec(select(DatasetEntry)).all()
        assert [e.dataset_id for e in remaining] == [ids[0]]
        assert s.exec(select(Membership)).all() == []
        assert s.exec(select(Team)).one().name == "red"


def test_services_on_each_database(db_url: str) -> None:
    """init, the disable guard and the login failure count use SQL that must hold on both databases."""
    from catalog.errors import ConflictError, PermissionDeniedError
    from catalog.scoping import SYSTEM
    from catalog.services import algorithms, teams
    from catalog.services.init import initialize

    report = initialize(admin_password="admin password", echo=lambda _line: None)
    assert len(report.presets.created) == 10
    assert len(initialize(admin_password=None, echo=lambda _line: None).presets.skipped) == 10
    with session_scope() as s:
        team = s.exec(select(Team)).one()
        dataset = Dataset(team_id=team.id, scenario="anomaly_detection", name="cpu")
        s.add(dataset)
        s.flush()
        release = DatasetRelease(dataset_id=dataset.id, version="v1")
        s.add(release)
        s.flush()
        ecod = algorithms.get_algorithm(s, scenario="anomaly_detection", name="ECOD")
        s.add(
            TrainJob(
                team_id=team.id,
                scenario="anomaly_detection",
                name="busy",
                algorithm_id=ecod.id,
                release_id=release.id,
                status=JobStatus.RUNNING,
            )
        )
    with pytest.raises(ConflictError, match="'busy'"), session_scope() as s:
        algorithms.set_enabled(s, actor=SYSTEM, scenario="anomaly_detection", name="ECOD", enabled=False)
    with session_scope() as s:
        assert (
            algorithms.set_enabled(
                s, actor=SYSTEM, scenario="anomaly_detection", name="EWMA", enabled=False
            ).enabled
            is False
        )
    for _ in range(teams.MAX_FAILED_LOGINS):
        with pytest.raises(PermissionDeniedError), session_scope() as s:
            teams.authenticate(s, username="admin", password="wrong password")
    with pytest.raises(PermissionDeniedError, match="locked"), session_scope() as s:
        teams.authenticate(s, username="admin", password="admin password")


def test_timestamps_are_stored_as_utc_and_read_back_aware_utc(db_url: str) -> None:
    """Every datetime column (``catalog.models.base.UtcDateTime``): an aware value in any zone goes in as its
    instant, comes back in UTC whatever the database or its session's time zone, and compares in SQL as that
    instant; a naive value, which could be local time, is refused."""
    migrate()
    india = timezone(timedelta(hours=5, minutes=30))
    started = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=india)  # 06:30 UTC
    with session_scope() as s:
        team = Team(name="red")
        s.add(team)
        s.flush()
        algo = AlgorithmConfig(scenario="anomaly_detection", name="ECOD", display_name="ECOD", image="x")
        dataset = Dataset(team_id=team.id, scenario="anomaly_detection", name="cpu")
        s.add_all([algo, dataset])
        s.flush()
        release = DatasetRelease(dataset_id=dataset.id, version="v1")
        s.add(release)
        s.flush()
        job = TrainJob(
            team_id=team.id,
            scenario="anomaly_detection",
            name="job1",
            algorithm_id=algo.id,
            release_id=release.id,
            started_at=started,
        )
        s.add(job)
        s.add(RevokedToken(digest="d" * 64, expires_at=started))
        s.flush()
        job_id = job.id
        with pytest.raises(StatementError, match="timezone-aware"), s.begin_nested():
            s.add(RevokedToken(digest="n" * 64, expires_at=datetime(2026, 3, 1, 12, 0)))
            s.flush()
    dispose_engines()  # read back through new connections: nothing cached

    with session_scope() as s:
        if s.get_bind().dialect.name == "postgresql":
            # The server answers timestamptz in the session's zone: the column must bring it back to UTC.
            s.exec(text("SET TIME ZONE 'America/New_York'"))  # type: ignore[call-overload]
        job = s.get(TrainJob, job_id)
        assert job is not None and job.started_at is not None
        assert job.started_at.tzinfo is UTC and job.started_at == started
        assert job.started_at.replace(tzinfo=None) == datetime(2026, 3, 1, 6, 30, 0, 123456)
        assert job.created_at.tzinfo is UTC and job.updated_at.tzinfo is UTC and job.finished_at is None
        token = s.exec(select(RevokedToken)).one()
        assert token.expires_at.tzinfo is UTC and token.expires_at == started
        # Parameters in another zone compare as instants (on SQLite the stored digits are compared as text).
        a_minute = timedelta(minutes=1)
        for zone in (UTC, india, timezone(timedelta(hours=-8))):
            local = started.astimezone(zone)
            found = s.exec(
                select(TrainJob.id).where(
                    TrainJob.started_at > local - a_minute,  # type: ignore[operator]
                    TrainJob.started_at < local + a_minute,
                )
            ).all()  # type: ignore[operator]
            assert found == [job_id], zone
        before = job.updated_at
        job.finished_at = started + timedelta(hours=1)
        s.add(job)
        s.flush()
        s.refresh(job)
        assert job.finished_at is not None and job.finished_at.tzinfo is UTC
        assert job.finished_at - job.started_at == timedelta(hours=1)
        assert job.updated_at >= before and job.updated_at.tzinfo is UTC
