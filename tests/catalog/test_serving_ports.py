"""The port a serving asks for (catalog.services.serving, create and update): inside the configured serving
range, held by no other serving record of any team (stopped ones included; the error never says whose), and
bindable on the serving host. Catalog only (SQLite), no servers."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from infra.net import port_is_free
from infra.settings import reset_settings


def free_range(size: int = 8) -> tuple[int, int]:
    """A run of ``size`` ports that are all bindable now, below the ephemeral range."""
    for lo in range(26000, 30000, size):
        if all(port_is_free(p) for p in range(lo, lo + size)):
            return lo, lo + size - 1
    raise RuntimeError("no free port run")


@dataclass
class World:
    lo: int
    hi: int
    carol: Any  # a plain member of the admin's team
    team_id: int
    job_id: int
    bob: Any  # a plain member of the other team
    other_team_id: int
    other_job_id: int
    other_team_name: str


def make_world(lo: int, hi: int) -> World:
    """The admin's team with carol (a plain member) and a completed job; the other team with bob and its job."""
    from catalog.db import session_scope
    from catalog.models import Team
    from catalog.services import teams
    from tests.flows.test_serving_lifecycle import seed_catalog

    seeded = seed_catalog("unused-model")
    with session_scope() as session:
        carol = teams.create_user(session, actor=seeded.admin, username="carol", password="carol-pass-123")
        teams.add_member(session, actor=seeded.admin, team_id=seeded.team_id, user_id=carol.id)  # type: ignore[arg-type]
        other_name = session.get(Team, seeded.other_team_id).name  # type: ignore[union-attr]
    with session_scope() as session:
        carol_actor = teams.actor_for(session, username="carol")
    return World(
        lo,
        hi,
        carol_actor,
        seeded.team_id,
        seeded.job_id,
        seeded.other_user,
        seeded.other_team_id,
        seeded.other_job_id,
        other_name,
    )


def serving_port_range(monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """A free run of ports as MLOPS_RUNTIME_SERVING_PORT_RANGE (on 127.0.0.1), for this test."""
    lo, hi = free_range()
    monkeypatch.setenv("MLOPS_RUNTIME_SERVING_PORT_RANGE", f"{lo}-{hi}")
    monkeypatch.setenv("MLOPS_RUNTIME_SERVING_HOST", "127.0.0.1")
    reset_settings()
    return lo, hi


@pytest.fixture
def world(catalog_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield make_world(*serving_port_range(monkeypatch))
    reset_settings()


def create(actor: Any, team_id: int, job_id: int, name: str, port: int | None = None) -> Any:
    from catalog.db import session_scope
    from catalog.services import serving as svc

    with session_scope() as session:
        return svc.create_serving(
            session, actor=actor, team_id=team_id, name=name, train_job_id=job_id, port=port
        )


def update(actor: Any, serving_id: int, **changes: Any) -> Any:
    from catalog.db import session_scope
    from catalog.services import serving as svc

    with session_scope() as session:
        return svc.update_serving(session, actor=actor, serving_id=serving_id, **changes)[0]


def stop(actor: Any, serving_id: int) -> None:
    from catalog.db import session_scope
    from catalog.models import DesiredState
    from catalog.services import serving as svc

    with session_scope() as session:
        svc.set_desired(session, actor=actor, serving_id=serving_id, desired=DesiredState.STOPPED)


def test_ports_outside_the_range_are_refused(world: World) -> None:
    from catalog.errors import ValidationError

    mine = create(world.carol, world.team_id, world.job_id, "mine")
    for port in (world.lo - 1, world.hi + 1, 80, 65535):
        with pytest.raises(
            ValidationError,
            match=rf"port {port} is outside the serving port range "
            rf"{world.lo}-{world.hi} \(MLOPS_RUNTIME_SERVING_PORT_RANGE\)",
        ):
            update(world.carol, mine.id, port=port)
        with pytest.raises(ValidationError, match="outside the serving port range"):
            create(world.carol, world.team_id, world.job_id, f"at-{port}", port=port)
    assert update(world.carol, mine.id, port=world.hi).port == world.hi


def test_a_port_held_by_another_teams_stopped_serving_is_taken(world: World) -> None:
    from catalog.errors import ConflictError

    theirs = create(world.bob, world.other_team_id, world.other_job_id, "theirs-secret", port=world.lo)
    stop(world.bob, theirs.id)
    mine = create(world.carol, world.team_id, world.job_id, "mine")
    for attempt in (
        lambda: update(world.carol, mine.id, port=world.lo),
        lambda: create(world.carol, world.team_id, world.job_id, "second", port=world.lo),
    ):
        with pytest.raises(ConflictError) as taken:
            attempt()
        assert str(taken.value) == f"port {world.lo} is taken"
    # The port a serving was last seen running on is held too, though it asked for none.
    from catalog.db import session_scope
    from catalog.services import serving as svc

    auto = create(world.bob, world.other_team_id, world.other_job_id, "auto")
    with session_scope() as session:
        svc.record_observed(
            session, observations={auto.id: svc.Observation(state="running", port=world.lo + 1)}
        )
    with pytest.raises(ConflictError, match=f"port {world.lo + 1} is taken"):
        update(world.carol, mine.id, port=world.lo + 1)
    assert update(world.carol, mine.id, port=world.lo + 2).port == world.lo + 2


def test_a_port_in_use_on_the_host_is_refused(world: World) -> None:
    from catalog.errors import ConflictError

    mine = create(world.carol, world.team_id, world.job_id, "mine")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", world.lo + 3))
        listener.listen()
        with pytest.raises(ConflictError, match=f"port {world.lo + 3} is in use on the serving host"):
            update(world.carol, mine.id, port=world.lo + 3)
    assert update(world.carol, mine.id, port=world.lo + 3).port == world.lo + 3


def test_a_serving_keeps_its_own_port(world: World) -> None:
    mine = create(world.carol, world.team_id, world.job_id, "mine", port=world.lo + 4)
    assert update(world.carol, mine.id, port=world.lo + 4, model_version="3").port == world.lo + 4
    cleared = update(world.carol, mine.id, clear_port=True)
    assert cleared.port is None
    # Once released, another team may take it.
    other = create(world.bob, world.other_team_id, world.other_job_id, "theirs", port=world.lo + 4)
    assert other.port == world.lo + 4
