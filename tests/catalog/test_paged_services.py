"""Paged and filtered listings behind the dashboard's lists (real SQLite catalog): entries, releases across
datasets, dataset names, teams and users pages, and the new filters of jobs, servings and audit events — each
counted and paged in SQL, and each confined to what the actor may see."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from catalog.errors import NotFoundError, PermissionDeniedError, ValidationError
from catalog.models import AlgorithmConfig, DatasetRelease, ReleaseStatus, Serving, TrainJob
from catalog.scoping import SYSTEM, Actor
from catalog.services import audit, teams
from catalog.services import datasets as svc
from catalog.services import names as names_svc
from catalog.services import releases as rel_svc
from catalog.services import serving as sv_svc
from catalog.services import training as tr_svc
from tests.catalog.conftest import make_actor

pytestmark = pytest.mark.usefixtures("cheap_hashing")


def team_of(actor: Actor) -> int:
    return min(actor.team_ids)


def dataset(session: Session, actor: Actor, name: str, scenario: str = "anomaly_detection") -> int:
    ds = svc.create_dataset(session, actor=actor, team_id=team_of(actor), scenario=scenario, name=name)
    return ds.id  # type: ignore[return-value]


def entry(session: Session, actor: Actor, dataset_id: int, name: str) -> int:
    e = svc.add_entry(
        session,
        actor=actor,
        dataset_id=dataset_id,
        name=name,
        object_key=f"k/{dataset_id}/{name}",
        size_bytes=1,
        sha256="0" * 64,
        content_type="text/csv",
        summary={},
    )
    return e.id  # type: ignore[return-value]


def release(session: Session, dataset_id: int, version: str, status: str) -> int:
    row = DatasetRelease(
        dataset_id=dataset_id, version=version, status=status, error="boom" if status == "failed" else None
    )
    session.add(row)
    session.flush()
    return row.id  # type: ignore[return-value]


@pytest.fixture
def world(session: Session) -> dict[str, object]:
    alice, bob = make_actor(session, "alice"), make_actor(session, "bob")
    cpu = dataset(session, alice, "cpu")
    mem = dataset(session, alice, "memory")
    logs = dataset(session, alice, "syslog", scenario="log_clustering")
    other = dataset(session, bob, "bob-cpu")
    for i in range(7):
        entry(session, alice, cpu, f"part-{i}.csv")
    entry(session, alice, cpu, "special.csv")
    entry(session, bob, other, "part-0.csv")
    ids = {
        "cpu_v1": release(session, cpu, "v1", ReleaseStatus.PUBLISHED),
        "cpu_v2": release(session, cpu, "v2", ReleaseStatus.FAILED),
        "mem_v1": release(session, mem, "v1", ReleaseStatus.PUBLISHED),
        "logs_v1": release(session, logs, "v1", ReleaseStatus.PUBLISHED),
        "bob_v1": release(session, other, "v1", ReleaseStatus.PUBLISHED),
    }
    session.commit()
    return {"alice": alice, "bob": bob, "cpu": cpu, "mem": mem, "logs": logs, "other": other, **ids}


def test_page_entries_pages_and_searches(session: Session, world: dict[str, object]) -> None:
    alice, cpu = world["alice"], world["cpu"]
    total, first = svc.page_entries(session, actor=alice, dataset_id=cpu, limit=3)  # type: ignore[arg-type]
    assert total == 8 and [e.name for e in first] == ["part-0.csv", "part-1.csv", "part-2.csv"]
    total, last = svc.page_entries(session, actor=alice, dataset_id=cpu, offset=6, limit=3)  # type: ignore[arg-type]
    assert total == 8 and [e.name for e in last] == ["part-6.csv", "special.csv"]
    total, found = svc.page_entries(session, actor=alice, dataset_id=cpu, search="SPEC")  # type: ignore[arg-type]
    assert total == 1 and found[0].name == "special.csv"
    with pytest.raises(ValidationError):
        svc.page_entries(session, actor=alice, dataset_id=cpu, limit=0)  # type: ignore[arg-type]


def test_page_entries_of_another_team_reads_as_missing(session: Session, world: dict[str, object]) -> None:
    with pytest.raises(NotFoundError) as other:
        svc.page_entries(session, actor=world["bob"], dataset_id=world["cpu"])  # type: ignore[arg-type]
    with pytest.raises(NotFoundError) as missing:
        svc.page_entries(session, actor=world["bob"], dataset_id=987654)  # type: ignore[arg-type]
    assert str(other.value).replace(str(world["cpu"]), "N") == str(missing.value).replace("987654", "N")


def test_page_releases_filters(session: Session, world: dict[str, object]) -> None:
    alice = world["alice"]

    def ids(**kw: object) -> tuple[int, list[int]]:
        total, rows = rel_svc.page_releases(session, actor=alice, **kw)  # type: ignore[arg-type]
        return total, [r.id for r in rows]  # type: ignore[misc]

    assert ids() == (4, [world["logs_v1"], world["mem_v1"], world["cpu_v2"], world["cpu_v1"]])  # newest first
    assert ids(dataset_id=world["cpu"]) == (2, [world["cpu_v2"], world["cpu_v1"]])
    assert ids(scenario="anomaly_detection", status="published") == (2, [world["mem_v1"], world["cpu_v1"]])
    assert ids(search="memo") == (1, [world["mem_v1"]])  # by dataset name
    assert ids(search="v2") == (1, [world["cpu_v2"]])  # by version
    with pytest.raises(NotFoundError, match="team"):  # another team's filter reads as a missing team's
        ids(team_id=team_of(world["bob"]))  # type: ignore[arg-type]
    assert ids(status="failed", limit=1) == (1, [world["cpu_v2"]])
    total, rows = rel_svc.page_releases(session, actor=SYSTEM, team_id=team_of(world["bob"]))  # type: ignore[arg-type]
    assert (total, [r.id for r in rows]) == (1, [world["bob_v1"]])
    with pytest.raises(NotFoundError):
        rel_svc.page_releases(session, actor=alice, dataset_id=world["other"])  # type: ignore[arg-type]


def test_dataset_names_leave_out_other_teams(session: Session, world: dict[str, object]) -> None:
    names = names_svc.dataset_names(
        session, actor=world["alice"], dataset_ids=[world["cpu"], world["other"], 987654]
    )  # type: ignore[list-item]
    assert names == {world["cpu"]: "cpu"}
    assert names_svc.dataset_names(session, actor=world["alice"], dataset_ids=[]) == {}  # type: ignore[arg-type]


def test_page_teams_and_users(session: Session, world: dict[str, object]) -> None:
    for i in range(5):
        teams.create_user(session, actor=SYSTEM, username=f"user{i}", password="pass-word-123")
    session.commit()
    total, rows = teams.page_teams(session, actor=SYSTEM, search="team-", limit=1)
    assert total == 2 and [t.name for t in rows] == ["team-alice"]
    total, rows = teams.page_teams(session, actor=world["alice"])  # type: ignore[arg-type]
    assert total == 1 and rows[0].name == "team-alice"  # a member sees their own teams only
    total, rows = teams.page_users(session, actor=SYSTEM, search="user", offset=3, limit=10)
    assert total == 5 and [u.username for u in rows] == ["user3", "user4"]
    with pytest.raises(PermissionDeniedError):
        teams.page_users(session, actor=world["alice"])  # type: ignore[arg-type]


def _job(session: Session, team_id: int, name: str, status: str, release_id: int) -> TrainJob:
    algo = session.exec(select(AlgorithmConfig)).first()
    if algo is None:
        algo = AlgorithmConfig(
            scenario="anomaly_detection",
            name="ECOD",
            display_name="ECOD",
            image="x",
            form_config={"fields": []},
        )
        session.add(algo)
        session.flush()
    job = TrainJob(
        team_id=team_id,
        scenario="anomaly_detection",
        name=name,
        algorithm_id=algo.id,  # type: ignore[arg-type]
        release_id=release_id,
        status=status,
        model_name=f"m-{name}",
    )
    session.add(job)
    session.flush()
    return job


def test_jobs_by_statuses_and_servings_by_state(session: Session, world: dict[str, object]) -> None:
    alice, bob = world["alice"], world["bob"]
    team = team_of(alice)  # type: ignore[arg-type]
    release_id = world["cpu_v1"]
    for name, status in (("a", "running"), ("b", "starting"), ("c", "failed"), ("d", "completed")):
        _job(session, team, name, status, release_id)  # type: ignore[arg-type]
    done = _job(session, team, "e", "completed", release_id)  # type: ignore[arg-type]
    for name, state, error in (
        ("live", "running", None),
        ("down", "exited", "crashed: OOM"),
        ("new", "unknown", None),
    ):
        session.add(
            Serving(
                team_id=team,
                scenario="anomaly_detection",
                name=name,
                train_job_id=done.id,  # type: ignore[arg-type]
                observed_state=state,
                error=error,
            )
        )
    session.commit()
    total, rows = tr_svc.list_jobs(session, actor=alice, statuses=["starting", "running"])  # type: ignore[arg-type]
    assert total == 2 and {j.name for j in rows} == {"a", "b"}
    assert tr_svc.list_jobs(session, actor=bob, statuses=["starting", "running"])[0] == 0  # type: ignore[arg-type]
    total, rows = sv_svc.list_servings(session, actor=alice, observed_state="running")  # type: ignore[arg-type]
    assert total == 1 and rows[0].name == "live"
    total, rows = sv_svc.list_servings(session, actor=alice, failed=True)  # type: ignore[arg-type]
    assert total == 1 and rows[0].error == "crashed: OOM"
    assert sv_svc.list_servings(session, actor=bob, failed=True)[0] == 0  # type: ignore[arg-type]


def test_audit_events_by_outcome(session: Session, world: dict[str, object]) -> None:
    alice = world["alice"]
    audit.record(
        session,
        actor=alice,
        action="dataset.create",
        resource_type="dataset",  # type: ignore[arg-type]
        team_id=team_of(alice),
        outcome="denied",
    )  # type: ignore[arg-type]
    session.commit()
    total, rows = audit.list_events(session, actor=SYSTEM, outcome="denied")
    assert total == 1 and rows[0].actor_name == "alice"
    ok_total, _ = audit.list_events(session, actor=SYSTEM, outcome="ok")
    all_total, _ = audit.list_events(session, actor=SYSTEM)
    assert ok_total == all_total - 1
