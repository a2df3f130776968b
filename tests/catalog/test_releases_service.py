"""Release services on a real catalog (SQLite): versions, frozen entries, and every release status transition.
Fixtures and helpers: tests/catalog/conftest.py (isolation between teams: test_datasets_service.py)."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from catalog.errors import ConflictError, ValidationError
from catalog.models import DatasetRelease
from catalog.scoping import SYSTEM, Actor
from catalog.services import datasets as svc
from catalog.services import releases as rel_svc
from tests.catalog.conftest import MISSING, release_status


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
    assert rid is not None and release_status(session, rid) == "pending"
    assert not rel_svc.mark_published(
        session, release_id=rid, object_key="x", size_bytes=1, sha256="s", split_counts={}
    ), "pending → published skips publishing"
    assert not rel_svc.mark_failed(session, release_id=rid, error="e"), "only a publishing release can fail"
    with pytest.raises(ConflictError, match="is pending, not published"):
        rel_svc.archive_release(session, actor=alice, release_id=rid)
    with pytest.raises(ValidationError, match="only published releases download"):
        rel_svc.downloadable_release(session, actor=alice, release_id=rid)

    assert rel_svc.claim_publish(
        session, actor=SYSTEM, release_id=rid, flow_run_id="run-1"
    )  # pending → publishing
    assert release_status(session, rid) == "publishing"
    assert not rel_svc.claim_publish(session, actor=SYSTEM, release_id=rid), "a second publish is refused"
    assert rel_svc.mark_failed(
        session, release_id=rid, error="ObjectStoreError: S3 down"
    )  # publishing → failed
    assert release_status(session, rid) == "failed"
    assert session.get(DatasetRelease, rid).error == "ObjectStoreError: S3 down"  # type: ignore[union-attr]
    assert not rel_svc.mark_published(
        session, release_id=rid, object_key="x", size_bytes=1, sha256="s", split_counts={}
    )

    assert rel_svc.claim_publish(
        session, actor=SYSTEM, release_id=rid, flow_run_id="run-2"
    )  # failed → publishing
    release = session.get(DatasetRelease, rid)
    assert release is not None and release.error is None and release.flow_run_id == "run-2"
    assert rel_svc.mark_published(
        session,
        release_id=rid,
        object_key="releases/r.zip",
        size_bytes=9,
        sha256="ab",
        split_counts={"train": 5, "test": 5},
    )  # publishing → published
    assert release_status(session, rid) == "published"
    assert not rel_svc.claim_publish(session, actor=SYSTEM, release_id=rid), (
        "published is final for publishing"
    )
    assert not rel_svc.mark_failed(session, release_id=rid, error="late")
    assert rel_svc.downloadable_release(session, actor=alice, release_id=rid).object_key == "releases/r.zip"

    with pytest.raises(ConflictError, match="is published, not archived"):
        rel_svc.restore_release(session, actor=alice, release_id=rid)
    assert (
        rel_svc.archive_release(session, actor=alice, release_id=rid).status == "archived"
    )  # published → archived
    assert not rel_svc.claim_publish(session, actor=SYSTEM, release_id=rid)
    with pytest.raises(ConflictError, match="is archived, not published"):
        rel_svc.archive_release(session, actor=alice, release_id=rid)
    assert rel_svc.downloadable_release(session, actor=alice, release_id=rid).status == "archived"
    with pytest.raises(ValidationError, match="archived; restore it first"):
        rel_svc.require_usable_release(
            session, actor=alice, release_id=rid, team_id=min(alice.team_ids), scenario="anomaly_detection"
        )
    assert (
        rel_svc.restore_release(session, actor=alice, release_id=rid).status == "published"
    )  # archived → published
    usable = rel_svc.require_usable_release(
        session, actor=alice, release_id=rid, team_id=min(alice.team_ids), scenario="anomaly_detection"
    )
    assert usable.sha256 == "ab" and usable.split_counts == {"train": 5, "test": 5}


def test_a_release_over_the_stored_bytes_quota_is_refused_before_its_zip(
    session: Session, alice: Actor, dataset: int
) -> None:
    """Two entries of 10 bytes: a release's zip counts as their total (20) from its creation's check, through
    its publishing (reserved), to its real size once published; an entry is refused the same way."""
    from catalog.errors import QuotaExceededError
    from catalog.services import quotas

    team_id = min(alice.team_ids)
    quotas.set_quota(session, actor=SYSTEM, team_id=team_id, stored_bytes=30)
    with pytest.raises(
        QuotaExceededError, match=r"allows 30 B stored \(its subtree stores 20 B; this needs 20 B more\)"
    ):
        rel_svc.create_release(session, actor=alice, dataset_id=dataset)
    quotas.set_quota(session, actor=SYSTEM, team_id=team_id, stored_bytes=40)
    release = rel_svc.create_release(session, actor=alice, dataset_id=dataset)
    assert rel_svc.claim_publish(session, actor=alice, release_id=release.id)  # type: ignore[arg-type]
    assert quotas.team_usage(session, actor=alice, team_id=team_id).usage.stored_bytes == 40
    with pytest.raises(QuotaExceededError, match="its subtree stores 40 B"):
        rel_svc.create_release(session, actor=alice, dataset_id=dataset)
    assert rel_svc.mark_published(
        session,
        release_id=release.id,
        object_key="z",
        size_bytes=15,
        sha256="s",
        split_counts={},  # type: ignore[arg-type]
    )
    assert quotas.team_usage(session, actor=alice, team_id=team_id).usage.stored_bytes == 35
    with pytest.raises(QuotaExceededError, match="its subtree stores 35 B; this needs 10 B more"):
        svc.add_entry(
            session,
            actor=alice,
            dataset_id=dataset,
            name="c.csv",
            object_key="k",
            size_bytes=10,
            sha256="0" * 64,
            content_type="text/csv",
            summary={},
        )
