"""Release streaming against a real SeaweedFS: a build that fails after the zip's multipart upload has sent
parts leaves no incomplete upload behind, even when the SDK's own abort request fails."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog.models import Dataset, DatasetRelease
from catalog.scenarios import Scenario
from infra.objectstore import ObjectStore
from tasks import dataset_layouts
from tasks.datasets import PART_SIZE, release_key, stream_release
from tests.fixtures.servers import S3Server
from tests.flows.training_support import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def store(s3_server: S3Server) -> Iterator[ObjectStore]:
    bucket = s3_server.new_bucket()
    yield s3_server.store(bucket)
    s3_server.drop_bucket(bucket)


def entry(store: ObjectStore, entry_id: int, body: bytes, *, tamper: bool = False) -> dict[str, Any]:
    key = f"datasets/1/{entry_id}.csv"
    store.put_bytes(key, body)
    sha = hashlib.sha256(body + (b"x" if tamper else b"")).hexdigest()
    return {
        "entry_id": entry_id,
        "name": f"e{entry_id}.csv",
        "object_key": key,
        "sha256": sha,
        "size_bytes": len(body),
        "splits": ["train"],
        "summary": {"rows": 1},
    }


def failing_release(store: ObjectStore) -> tuple[DatasetRelease, Dataset, str]:
    """Entry 1 is larger than a part (random bytes: deflate cannot shrink them), so the zip's multipart upload
    has begun when entry 2 fails its checksum."""
    big = entry(store, 1, os.urandom(PART_SIZE + 4 * 1024 * 1024))
    bad = entry(store, 2, b"timestamp,value\n2024-01-01,1\n", tamper=True)
    dataset = Dataset(id=1, team_id=1, scenario="anomaly_detection", name="big")
    release = DatasetRelease(id=5, dataset_id=1, version="v1", entries=[big, bad])
    return release, dataset, release_key(release)


def watch_upload(monkeypatch: pytest.MonkeyPatch, store: ObjectStore, key: str) -> list[str]:
    """After the first entry, wait until the release's multipart upload exists; returns the ids seen."""
    original = dataset_layouts.LAYOUTS[Scenario.ANOMALY_DETECTION]
    seen: list[str] = []

    def add_and_watch(writer: Any, item: dict[str, Any], splits: list[str]) -> None:
        original.add_entry(writer, item, splits)
        if item["entry_id"] == 1:
            uploads = wait_for(
                lambda: store.incomplete_uploads(key), timeout=60, what="the zip's multipart upload"
            )
            seen.extend(u.upload_id for u in uploads)

    monkeypatch.setitem(
        dataset_layouts.LAYOUTS, Scenario.ANOMALY_DETECTION, dataset_layouts.Layout(add_and_watch)
    )
    return seen


def test_failed_build_leaves_no_incomplete_upload(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    release, dataset, key = failing_release(store)
    seen = watch_upload(monkeypatch, store, key)
    with pytest.raises(dataset_layouts.ReleaseBuildError, match="checksum no longer matches"):
        stream_release(release=release, dataset=dataset, store=store, key=key)
    assert seen, "the upload had started"
    assert store.incomplete_uploads("releases/") == []
    assert not store.exists(key)


def test_upload_is_aborted_even_when_the_sdk_abort_fails(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    release, dataset, key = failing_release(store)
    seen = watch_upload(monkeypatch, store, key)
    client = store.client
    real_abort = client._abort_multipart_upload
    calls: list[str] = []

    def abort_fails_once(bucket: str, object_name: str, upload_id: str) -> None:
        calls.append(upload_id)
        if len(calls) == 1:  # the SDK's own abort, inside put_object: a transient failure
            raise ConnectionResetError("connection reset by peer")
        real_abort(bucket, object_name, upload_id)

    monkeypatch.setattr(client, "_abort_multipart_upload", abort_fails_once)
    with pytest.raises(dataset_layouts.ReleaseBuildError, match="checksum no longer matches"):
        stream_release(release=release, dataset=dataset, store=store, key=key)
    assert seen and calls[0] == seen[0]
    assert store.incomplete_uploads("releases/") == [], "the build's own abort caught what the SDK missed"
    assert not store.exists(key)
