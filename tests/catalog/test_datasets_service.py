"""Dataset services on a real catalog (SQLite): isolation between two teams for every dataset read and write,
releases' included (a refusal reads like a missing row). Fixtures and helpers: tests/catalog/conftest.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import Session

from catalog.errors import NotFoundError
from catalog.scoping import Actor
from catalog.services import datasets as svc
from catalog.services import releases as rel_svc
from tests.catalog.conftest import MISSING, add_entry, release_status


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
    _same_as_missing(lambda i: svc.list_datasets(session, actor=bob, team_id=i), alice_team)
    # Writes.
    _same_as_missing(
        lambda i: svc.create_dataset(
            session, actor=bob, team_id=i, scenario="anomaly_detection", name="intruder"
        ),
        alice_team,
    )
    _same_as_missing(lambda i: add_entry(session, bob, i, "x.csv"), dataset)
    _same_as_missing(lambda i: svc.set_entry_flags(session, actor=bob, entry_id=i, is_test=True), eid)
    _same_as_missing(lambda i: rel_svc.create_release(session, actor=bob, dataset_id=i), dataset)
    _same_as_missing(lambda i: rel_svc.claim_publish(session, actor=bob, release_id=i), rid)
    _same_as_missing(lambda i: rel_svc.archive_release(session, actor=bob, release_id=i), rid)
    _same_as_missing(lambda i: rel_svc.restore_release(session, actor=bob, release_id=i), rid)
    _same_as_missing(
        lambda i: rel_svc.require_usable_release(
            session, actor=bob, release_id=i, team_id=min(bob.team_ids), scenario="anomaly_detection"
        ),
        rid,
    )
    session.rollback()
    # Nothing of Alice's changed, and Bob's own team still works.
    assert [e.name for e in svc.list_entries(session, actor=alice, dataset_id=dataset)] == ["a.csv", "b.csv"]
    assert release_status(session, rid) == "pending"
    mine = svc.create_dataset(
        session, actor=bob, team_id=min(bob.team_ids), scenario="anomaly_detection", name="cpu"
    )
    assert svc.list_datasets(session, actor=bob)[1] == [mine]
    assert svc.list_datasets(session, actor=alice)[1][0].id == dataset
