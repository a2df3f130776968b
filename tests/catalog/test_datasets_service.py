"""Dataset services on a real catalog (SQLite): versions, frozen entries, every release status transition,
and isolation between two teams for every dataset read and write (a refusal reads like a missing row)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlmodel import Session

from catalog.errors import ConflictError, NotFoundError, ValidationError
from catalog.models import DatasetRelease
from catalog.scoping import SYSTEM, Actor
from catalog.services import datasets as svc
from catalog.services import releases as rel_svc
from catalog.services import teams

MISSING = 987654


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(teams, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def make_actor(session: Session, name: str) -> Actor:
    team = teams.create_team(session, actor=SYSTEM, name=f"team-{name}")
    user = teams.create_user(session, actor=SYSTEM, username=name, password="pass-word-123")
    teams.add_member(session, actor=SYSTEM, team_id=team.id, user_id=user.id)  # type: ignore[arg-type]
    session.commit()
    return teams.actor_for(session, username=name)


@pytest.fixture
def alice(session: Session) -> Actor:
    return make_actor(session, "alice")


@pytest.fixture
def bob(session: Session) -> Actor:
    return make_actor(session, "bob")


def add(session: Session, actor: Actor, dataset_id: int, name: str, **flags: bool) -> int:
    entry = svc.add_entry(session, actor=actor, dataset_id=dataset_id, name=name, object_key=f"k/{name}",
                          size_bytes=10, sha256="0" * 64, content_type="text/csv", summary={"rows": 5}, **flags)
    return entry.id  # type: ignore[return-value]


@pytest.fixture
def dataset(session: Session, alice: Actor) -> int:
    ds = svc.create_dataset(session, actor=alice, team_id=min(alice.team_ids), scenario="anomaly_detection",
                            name="cpu")
    add(session, alice, ds.id, "a.csv")  # type: ignore[arg-type]
    add(session, alice, ds.id, "b.csv", is_train=False, is_test=True)  # type: ignore[arg-type]
    session.commit()
    return ds.id  # type: ignore[return-value]


def status(session: Session, release_id: int) -> str:
    session.expire_all()
    release = session.get(DatasetRelease, release_id)
    assert release is not None
    return release.status


def test_versions_default_and_unique(session: Session, alice: Actor, dataset: int) -> None:
    v1 = rel_svc.create_release(session, actor=alice, dataset_id=dataset)
    v2 = rel_svc.create_release(session, actor=alice, dataset_id=dataset)
    assert (v1.version, v2.version) == ("v1", "v2")
    with pytest.raises(ConflictError, match="already has a release 'v1'"):
        rel_svc.create_release(session, actor=alice, dataset_id=dataset, version="v1")
    with pytest.raises(ValidationError, match="invalid"):
        rel_svc.create_release(session, actor=alice, dataset_id=dataset, version="../x")
    custom = rel_svc.create_release(session, actor=alice, dataset_id=dataset, version="2024.06-rc1")
    assert custom.version == "2024.06-rc1"


def test_release_freezes_entries_and_splits(session: Session, alice: Actor, dataset: int) -> None:
    release = rel_svc.create_release(session, actor=alice, dataset_id=dataset)
    session.commit()
    frozen = [(e["name"], e["splits"]) for e in release.entries]
    assert frozen == [("a.csv", ["train"]), ("b.csv", ["test"])]
    entry_ids = [e["entry_id"] for e in release.entries]
    svc.set_entry_flags(session, actor=alice, entry_id=entry_ids[0], is_train=False, is_val=True)
    svc.set_entry_flags(session, actor=alice, entry_id=entry_ids[1], is_train=True, is_test=False)
    session.commit()
    session.expire_all()
    again = rel_svc.get_release(session, actor=alice, release_id=release.id)  # type: ignore[arg-type]
    assert [(e["name"], e["splits"]) for e in again.entries] == frozen


def test_release_by_chosen_entries_and_refusals(session: Session, alice: Actor, dataset: int) -> None:
    entries = svc.list_entries(session, actor=alice, dataset_id=dataset)
    release = rel_svc.create_release(session, actor=alice, dataset_id=dataset, entry_ids=[entries[0].id])  # type: ignore[list-item]
    assert [e["name"] for e in release.entries] == ["a.csv"]
    with pytest.raises(ValidationError, match="at least one entry flagged train"):
        rel_svc.create_release(session, actor=alice, dataset_id=dataset, entry_ids=[entries[1].id])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match=f"entries \\[{MISSING}\\] do not belong"):
        rel_svc.create_release(session, actor=alice, dataset_id=dataset, entry_ids=[MISSING])
    svc.set_entry_flags(session, actor=alice, entry_id=entries[0].id, is_train=False)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="in no split"):
        rel_svc.create_release(session, actor=alice, dataset_id=dataset, entry_ids=[entries[0].id])  # type: ignore[list-item]


def test_every_status_transition(session: Session, alice: Actor, dataset: int) -> None:
    rid = rel_svc.create_release(session, actor=alice, dataset_id=dataset).id
    assert rid is not None and status(session, rid) == "pending"
    assert not rel_svc.mark_published(session, release_id=rid, object_key="x", size_bytes=1, sha256="s",
                                      split_counts={}), "pending → published skips publishing"
    assert not rel_svc.mark_failed(session, release_id=rid, error="e"), "only a publishing release can fail"
    with pytest.raises(ConflictError, match="is pending, not published"):
        rel_svc.archive_release(session, actor=alice, release_id=rid)
    with pytest.raises(ValidationError, match="only published releases download"):
        rel_svc.downloadable_release(session, actor=alice, release_id=rid)

    assert rel_svc.claim_publish(session, actor=SYSTEM, release_id=rid, flow_run_id="run-1")  # pending → publishing
    assert status(session, rid) == "publishing"
    assert not rel_svc.claim_publish(session, actor=SYSTEM, release_id=rid), "a second publish is refused"
    assert rel_svc.mark_failed(session, release_id=rid, error="ObjectStoreError: S3 down")  # publishing → failed
    assert status(session, rid) == "failed"
    assert session.get(DatasetRelease, rid).error == "ObjectStoreError: S3 down"  # type: ignore[union-attr]
    assert not rel_svc.mark_published(session, release_id=rid, object_key="x", size_bytes=1, sha256="s",
                                      split_counts={})

    assert rel_svc.claim_publish(session, actor=SYSTEM, release_id=rid, flow_run_id="run-2")  # failed → publishing
    release = session.get(DatasetRelease, rid)
    assert release is not None and release.error is None and release.flow_run_id == "run-2"
    assert rel_svc.mark_published(session, release_id=rid, object_key="releases/r.zip", size_bytes=9, sha256="ab",
                                  split_counts={"train": 5, "test": 5})  # publishing → published
    assert status(session, rid) == "published"
    assert not rel_svc.claim_publish(session, actor=SYSTEM, release_id=rid), "published is final for publishing"
    assert not rel_svc.mark_failed(session, release_id=rid, error="late")
    assert rel_svc.downloadable_release(session, actor=alice, release_id=rid).object_key == "releases/r.zip"

    with pytest.raises(ConflictError, match="is published, not archived"):
        rel_svc.restore_release(session, actor=alice, release_id=rid)
    assert rel_svc.archive_release(session, actor=alice, release_id=rid).status == "archived"  # published → archived
    assert not rel_svc.claim_publish(session, actor=SYSTEM, release_id=rid)
    with pytest.raises(ConflictError, match="is archived, not published"):
        rel_svc.archive_release(session, actor=alice, release_id=rid)
    assert rel_svc.downloadable_release(session, actor=alice, release_id=rid).status == "archived"
    with pytest.raises(ValidationError, match="archived; restore it first"):
        rel_svc.require_usable_release(session, actor=alice, release_id=rid, team_id=min(alice.team_ids),
                                       scenario="anomaly_detection")
    assert rel_svc.restore_release(session, actor=alice, release_id=rid).status == "published"  # archived → published
    usable = rel_svc.require_usable_release(session, actor=alice, release_id=rid, team_id=min(alice.team_ids),
                                            scenario="anomaly_detection")
    assert usable.sha256 == "ab" and usable.split_counts == {"train": 5, "test": 5}


def _same_as_missing(call: Callable[[int], Any], real_id: int) -> None:
    with pytest.raises(NotFoundError) as refused:
        call(real_id)
    with pytest.raises(NotFoundError) as missing:
        call(MISSING)
    assert str(refused.value).replace(str(real_id), "N") == str(missing.value).replace(str(MISSING), "N")


def test_isolation_between_two_teams(session: Session, alice: Actor, bob: Actor, dataset: int) -> None:
    entry_id = svc.list_entries(session, actor=alice, dataset_id=dataset)[0].id
    release = rel_svc.create_release(session, actor=alice, dataset_id=dataset)
    session.commit()
    rid, eid, alice_team = release.id, entry_id, min(alice.team_ids)
    assert rid is not None and eid is not None

    # Reads.
    _same_as_missing(lambda i: svc.get_dataset(session, actor=bob, dataset_id=i), dataset)
    _same_as_missing(lambda i: svc.list_entries(session, actor=bob, dataset_id=i), dataset)
    _same_as_missing(lambda i: rel_svc.list_releases(session, actor=bob, dataset_id=i), dataset)
    _same_as_missing(lambda i: svc.get_entry(session, actor=bob, entry_id=i), eid)
    _same_as_missing(lambda i: rel_svc.get_release(session, actor=bob, release_id=i), rid)
    _same_as_missing(lambda i: rel_svc.downloadable_release(session, actor=bob, release_id=i), rid)
    assert svc.list_datasets(session, actor=bob) == (0, [])
    assert svc.list_datasets(session, actor=bob, team_id=alice_team) == (0, [])
    # Writes.
    _same_as_missing(lambda i: svc.create_dataset(session, actor=bob, team_id=i, scenario="anomaly_detection",
                                                  name="intruder"), alice_team)
    _same_as_missing(lambda i: add(session, bob, i, "x.csv"), dataset)
    _same_as_missing(lambda i: svc.set_entry_flags(session, actor=bob, entry_id=i, is_test=True), eid)
    _same_as_missing(lambda i: rel_svc.create_release(session, actor=bob, dataset_id=i), dataset)
    _same_as_missing(lambda i: rel_svc.claim_publish(session, actor=bob, release_id=i), rid)
    _same_as_missing(lambda i: rel_svc.archive_release(session, actor=bob, release_id=i), rid)
    _same_as_missing(lambda i: rel_svc.restore_release(session, actor=bob, release_id=i), rid)
    _same_as_missing(lambda i: rel_svc.require_usable_release(session, actor=bob, release_id=i,
                                                              team_id=min(bob.team_ids), scenario="anomaly_detection"),
                     rid)
    session.rollback()
    # Nothing of Alice's changed, and Bob's own team still works.
    assert [e.name for e in svc.list_entries(session, actor=alice, dataset_id=dataset)] == ["a.csv", "b.csv"]
    assert status(session, rid) == "pending"
    mine = svc.create_dataset(session, actor=bob, team_id=min(bob.team_ids), scenario="anomaly_detection", name="cpu")
    assert svc.list_datasets(session, actor=bob)[1] == [mine]
    assert svc.list_datasets(session, actor=alice)[1][0].id == dataset
