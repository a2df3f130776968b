"""Names for ids (catalog.services.names) on a real catalog (SQLite): each lookup names the actor's rows, leaves
out another team's exactly like a missing id, reads a page's ids in one query, and audit events' resources are
named by type. Fixtures and helpers: tests/catalog/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session

from catalog.models import AlgorithmConfig, DatasetRelease, Serving, TrainJob
from catalog.scoping import SYSTEM, Actor
from catalog.services import datasets
from catalog.services import names as svc
from tests.catalog.conftest import MISSING, add_entry


@dataclass(frozen=True)
class Rows:
    """One of each row for a team: dataset, entry, release, job, serving (ids)."""

    team: int
    dataset: int
    entry: int
    release: int
    job: int
    serving: int


def add(session: Session, row: Any) -> int:
    session.add(row)
    session.flush()
    return row.id  # type: ignore[no-any-return]


def team_rows(
    session: Session, actor: Actor, dataset_name: str, version: str, job: str, algorithm: int
) -> Rows:
    team = min(actor.team_ids)
    dataset = datasets.create_dataset(
        session, actor=actor, team_id=team, scenario="anomaly_detection", name=dataset_name
    ).id
    assert dataset is not None
    entry = add_entry(session, actor, dataset, f"{dataset_name}.csv")
    release = add(session, DatasetRelease(dataset_id=dataset, version=version, status="published"))
    job_id = add(
        session,
        TrainJob(
            team_id=team,
            scenario="anomaly_detection",
            name=job,
            algorithm_id=algorithm,
            release_id=release,
            model_name=f"m-{job}",
        ),
    )
    serving = add(
        session, Serving(team_id=team, scenario="anomaly_detection", name=f"{job}-svc", train_job_id=job_id)
    )
    session.commit()
    return Rows(team, dataset, entry, release, job_id, serving)


@dataclass(frozen=True)
class World:
    algorithm: int
    a: Rows  # alice's team
    b: Rows  # bob's team


@pytest.fixture
def world(session: Session, alice: Actor, bob: Actor) -> World:
    algorithm = add(
        session,
        AlgorithmConfig(
            scenario="anomaly_detection",
            name="ECOD",
            display_name="ECOD (long)",
            image="x",
            form_config={"fields": []},
        ),
    )
    return World(
        algorithm,
        team_rows(session, alice, "cpu", "v1", "ecod-a", algorithm),
        team_rows(session, bob, "mem", "v3", "ecod-b", algorithm),
    )


@pytest.fixture
def statements(session: Session) -> Iterator[list[str]]:
    """Every SELECT the session's engine runs while the test does."""
    seen: list[str] = []

    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if sql.lstrip().upper().startswith("SELECT"):
            seen.append(sql)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", statement)
    yield seen
    event.remove(engine, "before_cursor_execute", statement)


def test_each_lookup_names_the_actors_rows_only(
    session: Session, alice: Actor, bob: Actor, world: World
) -> None:
    a, b = world.a, world.b
    assert svc.dataset_names(session, actor=alice, dataset_ids=[a.dataset, b.dataset, MISSING]) == {
        a.dataset: "cpu"
    }
    assert svc.release_labels(session, actor=alice, release_ids=[a.release, b.release, MISSING]) == {
        a.release: "cpu v1"
    }
    assert svc.job_names(session, actor=alice, job_ids=[a.job, b.job, MISSING]) == {a.job: "ecod-a"}
    assert svc.team_names(session, actor=alice, team_ids=[a.team, b.team, MISSING]) == {a.team: "team-alice"}
    # The other team sees its own, and nothing of alice's.
    assert svc.release_labels(session, actor=bob, release_ids=[a.release, b.release]) == {b.release: "mem v3"}
    assert svc.job_names(session, actor=bob, job_ids=[a.job, b.job]) == {b.job: "ecod-b"}
    # The system (flows, administrators' pages) sees every team.
    assert svc.release_labels(session, actor=SYSTEM, release_ids=[a.release, b.release, MISSING]) == {
        a.release: "cpu v1",
        b.release: "mem v3",
    }
    assert svc.team_names(session, actor=SYSTEM, team_ids=[a.team, b.team]) == {
        a.team: "team-alice",
        b.team: "team-bob",
    }
    # Algorithms are one catalog for every team, named by their short name.
    assert svc.algorithm_names(session, algorithm_ids=[world.algorithm, MISSING]) == {world.algorithm: "ECOD"}


def test_a_page_of_ids_is_one_query_and_no_ids_none(
    session: Session, alice: Actor, world: World, statements: list[str]
) -> None:
    ids = [world.a.release, world.a.release, world.b.release, None, MISSING]
    assert svc.release_labels(session, actor=alice, release_ids=ids) == {world.a.release: "cpu v1"}
    assert len(statements) == 1, statements
    assert svc.job_names(session, actor=alice, job_ids=[None]) == {}
    assert svc.dataset_names(session, actor=alice, dataset_ids=[]) == {}
    assert len(statements) == 1, "an empty page asks nothing"


def test_audit_resources_are_named_by_type(
    session: Session, alice: Actor, bob: Actor, world: World, statements: list[str]
) -> None:
    a, b = world.a, world.b
    assert alice.user_id is not None and bob.user_id is not None
    kinds = {
        "dataset": "dataset",
        "dataset_entry": "entry",
        "dataset_release": "release",
        "train_job": "job",
        "serving": "serving",
    }
    resources = [(kind, str(getattr(rows, attr))) for kind, attr in kinds.items() for rows in (a, b)]
    resources += [
        ("team", str(a.team)),
        ("team", str(b.team)),
        ("algorithm", str(world.algorithm)),
        ("user", str(alice.user_id)),
        ("user", str(bob.user_id)),
        ("dataset", None),
        ("dataset", "cpu"),
        ("no_such_type", "1"),
        ("train_job", str(MISSING)),
    ]
    names = svc.resource_names(session, actor=alice, resources=resources)
    assert names == {
        ("dataset", str(a.dataset)): "cpu",
        ("dataset_entry", str(a.entry)): "cpu.csv",
        ("dataset_release", str(a.release)): "cpu v1",
        ("train_job", str(a.job)): "ecod-a",
        ("serving", str(a.serving)): "ecod-a-svc",
        ("team", str(a.team)): "team-alice",
        ("algorithm", str(world.algorithm)): "ECOD",
        ("user", str(alice.user_id)): "alice",  # as teams.get_user: a user who is not a superuser sees itself
    }
    assert len(statements) == 8, "one query per type on the page"
    every = svc.resource_names(session, actor=SYSTEM, resources=resources)
    assert every[("serving", str(b.serving))] == "ecod-b-svc" and every[("user", str(bob.user_id))] == "bob"
    assert len(every) == 15
