"""Catalog test fixtures: a fresh, migrated SQLite catalog per test, and a session on it; ``alice`` and
``bob``, actors of a team of their own each, and ``dataset``, alice's dataset of two entries (one train, one
test), on that session; ``fresh_settings``, settings read again from the environment alone (no .env file);
``world``: the isolation matrix's two teams and their resources (tests/catalog/isolation_world.py) on the
test's platform; ``permission_world``: the permission matrix's team tree, its resources and an actor per role
(tests/catalog/permission_world.py), built once per module on ``module_platform_env``.

Helpers the service tests share: ``make_actor``, ``add_entry``, ``release_status`` and ``MISSING``, an id no
row has."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from catalog.db import dispose_engines, get_engine, migrate
from catalog.models import DatasetRelease
from catalog.scoping import SYSTEM, Actor
from catalog.services import datasets, team_tree, teams
from infra.settings import reset_settings

MISSING = 987654


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Migrating takes a while; copying a database migrated once per session is instant.
    path = tmp_path_factory.mktemp("catalog-template") / "catalog.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def catalog_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _migrated_template: Path) -> Iterator[str]:
    """A migrated SQLite catalog of this test only, set as MLOPS_DATABASE_URL."""
    path = tmp_path / "catalog.db"
    shutil.copy(_migrated_template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("MLOPS_DATABASE_URL", url)
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MLOPS_ENV_FILE", str(tmp_path / "no.env"))
    reset_settings()
    dispose_engines()
    yield url
    dispose_engines()
    reset_settings()


@pytest.fixture
def session(catalog_url: str) -> Iterator[Session]:
    with Session(get_engine(catalog_url), expire_on_commit=False) as s:
        yield s


@pytest.fixture
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_ENV_FILE", "/nonexistent")
    reset_settings()


def make_actor(session: Session, name: str) -> Actor:
    """User ``name``, member of a new team ``team-{name}``, as an actor (committed)."""
    team = team_tree.create_team(session, actor=SYSTEM, name=f"team-{name}")
    user = teams.create_user(session, actor=SYSTEM, username=name, password="pass-word-123")
    teams.add_member(session, actor=SYSTEM, team_id=team.id, user_id=user.id)  # type: ignore[arg-type]
    session.commit()
    return teams.actor_for(session, username=name)


def add_entry(session: Session, actor: Actor, dataset_id: int, name: str, **flags: bool) -> int:
    """An entry whose object is never read (a 5-row CSV by its summary); its id."""
    entry = datasets.add_entry(
        session,
        actor=actor,
        dataset_id=dataset_id,
        name=name,
        object_key=f"k/{name}",
        size_bytes=10,
        sha256="0" * 64,
        content_type="text/csv",
        summary={"rows": 5},
        **flags,
    )
    return entry.id  # type: ignore[return-value]


def release_status(session: Session, release_id: int) -> str:
    """The release's status as committed."""
    session.expire_all()
    release = session.get(DatasetRelease, release_id)
    assert release is not None
    return release.status


@pytest.fixture
def alice(session: Session, cheap_hashing: None) -> Actor:
    return make_actor(session, "alice")


@pytest.fixture
def bob(session: Session, cheap_hashing: None) -> Actor:
    return make_actor(session, "bob")


@pytest.fixture
def dataset(session: Session, alice: Actor) -> int:
    ds = datasets.create_dataset(
        session, actor=alice, team_id=min(alice.team_ids), scenario="anomaly_detection", name="cpu"
    )
    add_entry(session, alice, ds.id, "a.csv")  # type: ignore[arg-type]
    add_entry(session, alice, ds.id, "b.csv", is_train=False, is_test=True)  # type: ignore[arg-type]
    session.commit()
    return ds.id  # type: ignore[return-value]


@pytest.fixture
def world(platform_env, _migrated_template: Path, cheap_hashing: None):  # type: ignore[no-untyped-def]
    from tests.catalog.isolation_world import build_world

    dispose_engines()
    shutil.copy(_migrated_template, platform_env.database.url.split("///", 1)[1])
    try:
        yield build_world()
    finally:
        dispose_engines()  # platform_env empties and removes the test's bucket


@pytest.fixture(scope="module")
def permission_world(module_platform_env, _migrated_template: Path):  # type: ignore[no-untyped-def]
    from tests.catalog.permission_world import build_permission_world
    from tests.fixtures.accounts import cheap_hasher

    dispose_engines()
    shutil.copy(_migrated_template, module_platform_env.database.url.split("///", 1)[1])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(teams, "_hasher", cheap_hasher())
        # The world's custom jobs run on the process runtime, which refuses them unless told.
        mp.setenv("MLOPS_TRAIN_CUSTOM_JOBS_ON_PROCESS", "true")
        reset_settings()
        try:
            yield build_permission_world()
        finally:
            dispose_engines()
            reset_settings()
