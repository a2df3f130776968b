"""The module tree served over NATS: the 24 sub-modules, paging and clamping, and team isolation."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlmodel import Session, select

from catalog.errors import NotFoundError, ValidationError
from catalog.models import AlgorithmConfig, Dataset, DatasetRelease, Model, Serving, Team, TrainJob
from catalog.scenarios import Scenario
from catalog.scoping import SYSTEM, Actor
from catalog.services import modules as svc
from catalog.services import team_tree
from catalog.services import teams as teams_service

PASSWORD = "module-pass-1"


@dataclass
class Seeded:
    team_a: int
    team_b: int
    alice: str  # member of team A only
    bob: str  # member of A and B
    root: str  # superuser, member of nothing


def seed_catalog(session: Session, *, datasets_a: int = 7, datasets_b: int = 3) -> Seeded:
    """Two teams with anomaly_detection datasets (names ds-000...), one job and one serving in team A, and models
    (two anomaly_detection ones and a log_clustering one in team A, one in team B)."""
    team_a = team_tree.create_team(session, actor=SYSTEM, name="team-a")
    team_b = team_tree.create_team(session, actor=SYSTEM, name="team-b")
    alice = teams_service.create_user(session, actor=SYSTEM, username="alice", password=PASSWORD)
    bob = teams_service.create_user(session, actor=SYSTEM, username="bob", password=PASSWORD)
    teams_service.create_user(session, actor=SYSTEM, username="root", password=PASSWORD, is_superuser=True)
    for user, team in ((alice, team_a), (bob, team_a), (bob, team_b)):
        teams_service.add_member(session, actor=SYSTEM, team_id=team.id, user_id=user.id)  # type: ignore[arg-type]
    # Inserted in reverse name order: the pages must come back sorted by name, not by insertion.
    for i in reversed(range(datasets_a)):
        session.add(Dataset(team_id=team_a.id, scenario="anomaly_detection", name=f"ds-{i:03d}"))
    for i in range(datasets_b):
        session.add(Dataset(team_id=team_b.id, scenario="anomaly_detection", name=f"b-ds-{i:03d}"))
    session.add(Dataset(team_id=team_a.id, scenario="log_clustering", name="logs"))
    session.flush()
    algo = AlgorithmConfig(scenario="anomaly_detection", name="ECOD", display_name="ECOD", image="x")
    session.add(algo)
    first = session.exec(select(Dataset).where(Dataset.team_id == team_a.id)).first()
    assert first is not None
    release = DatasetRelease(dataset_id=first.id, version="v1")
    session.add(release)
    session.flush()
    job = TrainJob(
        team_id=team_a.id,
        scenario="anomaly_detection",
        name="job-1",
        algorithm_id=algo.id,
        release_id=release.id,
    )
    session.add(job)
    session.flush()
    session.add(Serving(team_id=team_a.id, scenario="anomaly_detection", name="svc-1", train_job_id=job.id))
    # Inserted in reverse name order too.
    for team, scenario, name in (
        (team_a, "anomaly_detection", "model-b"),
        (team_a, "anomaly_detection", "model-a"),
        (team_a, "log_clustering", "model-logs"),
        (team_b, "anomaly_detection", "b-model"),
    ):
        session.add(Model(team_id=team.id, scenario=scenario, name=name, mlflow_name=f"seeded-{name}"))
    session.commit()
    return Seeded(team_a=team_a.id, team_b=team_b.id, alice="alice", bob="bob", root="root")  # type: ignore[arg-type]


@pytest.fixture
def seeded(session: Session, cheap_hashing: None) -> Seeded:
    return seed_catalog(session)


def data(session: Session, actor: Actor, **overrides: object) -> dict[str, object]:
    args: dict[str, object] = {
        "module": "datasets",
        "child_module": "anomaly_detection",
        "page": 1,
        "page_size": 500,
        "group_id": None,
        "max_page_size": 500,
    }
    args.update(overrides)
    return svc.module_data(session, actor=actor, **args)  # type: ignore[arg-type]


def ctx(session: Session, **context: object) -> Actor:
    return svc.actor_from_context(session, actor_context=context)


def test_module_list_has_four_modules_of_six_scenarios() -> None:
    modules = svc.module_list()
    assert [m["name"] for m in modules] == ["datasets", "training_jobs", "servings", "models"]
    assert [m["display_name"] for m in modules] == ["Datasets", "Training jobs", "Servings", "Models"]
    children = [c for m in modules for c in m["children"]]
    assert len(children) == 24
    assert [c["name"] for c in modules[0]["children"]] == [s.value for s in Scenario]
    assert modules[1]["children"][1]["display_name"] == "Time-series forecasting"


def test_pages_are_sorted_by_name_and_counted(session: Session, seeded: Seeded) -> None:
    alice = ctx(session, username="alice")
    first = data(session, alice, group_id=seeded.team_a, page=1, page_size=3)
    second = data(session, alice, group_id=seeded.team_a, page=3, page_size=3)
    beyond = data(session, alice, group_id=seeded.team_a, page=4, page_size=3)
    assert first["count"] == second["count"] == beyond["count"] == 7
    assert [i["name"] for i in first["items"]] == ["ds-000", "ds-001", "ds-002"]  # type: ignore[union-attr]
    assert [i["name"] for i in second["items"]] == ["ds-006"]  # type: ignore[union-attr]
    assert beyond["items"] == []
    assert set(first["items"][0]) == {"id", "name"}  # type: ignore[index]


def test_page_size_is_clamped(session: Session, seeded: Seeded) -> None:
    alice = ctx(session, username="alice")
    reply = data(session, alice, group_id=seeded.team_a, page_size=10_000, max_page_size=2)
    assert reply["count"] == 7
    assert len(reply["items"]) == 2  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("module", "names"),
    [("training_jobs", ["job-1"]), ("servings", ["svc-1"]), ("models", ["model-a", "model-b"])],
)
def test_jobs_servings_and_models(session: Session, seeded: Seeded, module: str, names: list[str]) -> None:
    reply = data(session, ctx(session, username="alice"), module=module, group_id=seeded.team_a)
    assert [i["name"] for i in reply["items"]] == names  # type: ignore[union-attr]
    other = data(
        session,
        ctx(session, username="alice"),
        module=module,
        child_module="text_classification",
        group_id=seeded.team_a,
    )
    assert other == {"count": 0, "items": []}


def test_other_teams_read_like_nonexistent_ones(session: Session, seeded: Seeded) -> None:
    alice = ctx(session, username="alice")
    with pytest.raises(NotFoundError) as foreign:
        data(session, alice, group_id=seeded.team_b)
    with pytest.raises(NotFoundError) as missing:
        data(session, alice, group_id=999)
    assert str(foreign.value).replace(str(seeded.team_b), "N") == str(missing.value).replace("999", "N")


def test_unknown_user_learns_nothing(session: Session, seeded: Seeded) -> None:
    ghost = ctx(session, username="ghost")
    with pytest.raises(NotFoundError):
        data(session, ghost, group_id=seeded.team_a)


def test_superuser_sees_every_team(session: Session, seeded: Seeded) -> None:
    root = ctx(session, username="root")
    assert data(session, root, group_id=seeded.team_b)["count"] == 3


def test_context_narrows_but_never_widens(session: Session, seeded: Seeded) -> None:
    # Claims are intersected with the catalog: bob acting within team A only, alice claiming team B.
    bob_in_a = ctx(session, username="bob", team_ids=[seeded.team_a])
    assert data(session, bob_in_a, group_id=seeded.team_a)["count"] == 7
    with pytest.raises(NotFoundError):
        data(session, bob_in_a, group_id=seeded.team_b)
    assert data(session, ctx(session, username="bob"), group_id=seeded.team_b)["count"] == 3
    with pytest.raises(NotFoundError):
        data(
            session,
            ctx(session, username="alice", team_ids=[seeded.team_b], is_superuser=True),
            group_id=seeded.team_b,
        )
    with pytest.raises(NotFoundError):
        data(session, ctx(session, username="root", is_superuser=False), group_id=seeded.team_b)


@pytest.mark.parametrize(
    "context",
    [
        None,
        "alice",
        {"user": "alice"},
        {"username": ""},
        {"username": 3},
        {"username": "alice", "team_ids": "1"},
        {"username": "alice", "team_ids": [True]},
        {"username": "alice", "is_superuser": "yes"},
    ],
)
def test_malformed_context_is_refused(session: Session, seeded: Seeded, context: object) -> None:
    with pytest.raises(ValidationError):
        svc.actor_from_context(session, actor_context=context)


@pytest.mark.parametrize(
    "overrides",
    [
        {"module": "recipes"},
        {"module": 1},
        {"child_module": "cooking"},
        {"page": 0},
        {"page": "1"},
        {"page": True},
        {"page_size": 0},
        {"page_size": 2.5},
        {"group_id": "1"},
        {"group_id": None},
    ],
)
def test_bad_arguments_are_refused(session: Session, seeded: Seeded, overrides: dict[str, object]) -> None:
    args = {"group_id": seeded.team_a, **overrides}
    with pytest.raises(ValidationError):
        data(session, ctx(session, username="alice"), **args)


def test_team_rows_exist(session: Session, seeded: Seeded) -> None:
    # Guards the fixture itself: the isolation tests mean something only if both teams hold data.
    assert session.get(Team, seeded.team_b) is not None
    assert data(session, ctx(session, username="root"), group_id=seeded.team_a)["count"] == 7


def test_context_resolves_like_actor_for(session: Session, seeded: Seeded) -> None:
    """The responder's one-query resolution must agree with teams.actor_for, the reference."""
    for username in ("alice", "bob", "root"):
        reference = teams_service.actor_for(session, username=username)
        resolved = ctx(session, username=username)
        assert (resolved.user_id, resolved.team_ids, resolved.is_superuser) == (
            reference.user_id,
            reference.team_ids,
            reference.is_superuser,
        )


def test_disabled_user_sees_nothing(session: Session, seeded: Seeded) -> None:
    from catalog.models import User

    alice = session.exec(select(User).where(User.username == "alice")).one()
    alice.is_active = False
    session.add(alice)
    session.commit()
    with pytest.raises(NotFoundError):
        data(session, ctx(session, username="alice"), group_id=seeded.team_a)


def test_reads_do_not_wait_for_a_writer(catalog_url: str, session: Session, seeded: Seeded) -> None:
    """The responder reads in ``read_session``: on SQLite it must not queue behind a write transaction."""
    import sqlite3

    from catalog.db import read_session

    writer = sqlite3.connect(catalog_url.split("///", 1)[1], isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE team SET description = 'being written' WHERE id = ?", (seeded.team_a,))
        with read_session() as reader:
            # Sees the last committed state (the writer's change is not committed yet).
            assert data(reader, ctx(reader, username="alice"), group_id=seeded.team_a)["count"] == 7
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_membership_changes_apply_at_once(session: Session, seeded: Seeded) -> None:
    """Statements are cached per actor: a membership added or removed must change what the next request sees."""
    from catalog.models import Membership, User

    alice_id = session.exec(select(User.id).where(User.username == "alice")).one()
    with pytest.raises(NotFoundError):
        data(session, ctx(session, username="alice"), group_id=seeded.team_b)
    session.add(Membership(user_id=alice_id, team_id=seeded.team_b))
    session.commit()
    assert data(session, ctx(session, username="alice"), group_id=seeded.team_b)["count"] == 3
    session.delete(session.get(Membership, (alice_id, seeded.team_a)))
    session.commit()
    with pytest.raises(NotFoundError):
        data(session, ctx(session, username="alice"), group_id=seeded.team_a)


@pytest.mark.postgres
def test_pages_and_isolation_on_postgresql(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, cheap_hashing: None
) -> None:
    """The page and count statements run on the DBAPI cursor: PostgreSQL's parameter style must work too."""
    from catalog.db import dispose_engines, get_engine, migrate
    from infra.settings import reset_settings

    monkeypatch.setenv("MLOPS_DATABASE_URL", postgres_url)
    reset_settings()
    dispose_engines()
    try:
        migrate(postgres_url)
        with Session(get_engine(postgres_url)) as s:
            seeded = seed_catalog(s)
            bob = ctx(s, username="bob")  # two teams: the scoping IN list has two values
            first = data(s, bob, group_id=seeded.team_a, page=2, page_size=3)
            assert first["count"] == 7
            assert [i["name"] for i in first["items"]] == ["ds-003", "ds-004", "ds-005"]  # type: ignore[union-attr]
            assert data(s, bob, module="servings", group_id=seeded.team_a)["items"][0]["name"] == "svc-1"  # type: ignore[index]
            models = data(s, bob, module="models", group_id=seeded.team_b)
            assert [i["name"] for i in models["items"]] == ["b-model"]  # type: ignore[union-attr]
            with pytest.raises(NotFoundError):
                data(s, ctx(s, username="alice"), group_id=seeded.team_b)
            s.rollback()
    finally:
        dispose_engines()
        reset_settings()
