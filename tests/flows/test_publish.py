"""The publish-release flow on real servers (SeaweedFS, Prefect): the release zip layout of every scenario,
immutability, a failure in the middle (S3 stopped) leaving a failed release, a consistent catalog and no
orphan object, publishing again, archive/restore, and the verified download."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.catalog.samples import class_zip, make_zip, series_csv, text_csv, write, yolo_members, yolo_zip

pytestmark = [pytest.mark.slow, pytest.mark.platform_servers("s3", "prefect")]


@pytest.fixture
def admin(platform_env) -> Any:  # type: ignore[no-untyped-def]
    from catalog.db import session_scope
    from catalog.services.init import initialize
    from catalog.services.teams import actor_for

    initialize(admin_password="publish-pass-1", echo=lambda *a, **k: None)
    with session_scope() as session:
        return actor_for(session, username="admin")


def new_dataset(admin: Any, scenario: str, name: str = "ds") -> int:
    from catalog.db import session_scope
    from catalog.services import datasets as ds

    with session_scope() as session:
        return ds.create_dataset(
            session, actor=admin, team_id=min(admin.team_ids), scenario=scenario, name=name
        ).id  # type: ignore[return-value]


def upload(admin: Any, dataset_id: int, path: Path, **flags: bool) -> Any:
    from catalog.uploads import upload_entry

    return upload_entry(actor=admin, dataset_id=dataset_id, path=path, filename=path.name, **flags)


def publish(admin: Any, dataset_id: int, **kwargs: Any) -> Any:
    from catalog.db import session_scope
    from catalog.services import releases as rel
    from flows.datasets import publish_release

    with session_scope() as session:
        release = rel.create_release(session, actor=admin, dataset_id=dataset_id, **kwargs)
    publish_release(release.id)
    return get_release(admin, release.id)  # type: ignore[arg-type]


def get_release(admin: Any, release_id: int) -> Any:
    from catalog.db import session_scope
    from catalog.services import releases as rel

    with session_scope() as session:
        return rel.get_release(session, actor=admin, release_id=release_id)


def fetch(release: Any, tmp_path: Path) -> zipfile.ZipFile:
    from infra.objectstore import ObjectStore
    from tasks.datasets import verified_download

    target = verified_download(
        ObjectStore.from_settings(),
        key=release.object_key,
        sha256=release.sha256,
        target=tmp_path / f"r{release.id}.zip",
    )
    assert target.stat().st_size == release.size_bytes
    return zipfile.ZipFile(target)


def inputs(scenario: str, tmp_path: Path) -> tuple[Path, Path]:
    """(train upload, test upload) of each scenario."""
    a, b = tmp_path / "a", tmp_path / "b"
    builders: dict[str, Any] = {
        "anomaly_detection": lambda: (
            write(a.with_suffix(".csv"), series_csv(30)),
            write(b.with_suffix(".csv"), series_csv(10, start="2025-01-01")),
        ),
        "timeseries_predict": lambda: (
            write(a.with_suffix(".csv"), series_csv(30, label=False, extra="temp")),
            write(b.with_suffix(".csv"), series_csv(10, label=False, extra="temp")),
        ),
        "text_classification": lambda: (
            write(a.with_suffix(".csv"), text_csv(12)),
            write(b.with_suffix(".csv"), text_csv(4)),
        ),
        "log_clustering": lambda: (
            write(a.with_suffix(".log"), b"one\r\ntwo \xff\r\n\r\nthree\rfour"),
            write(b.with_suffix(".log"), "五\n六\n"),
        ),
        "image_classification": lambda: (
            class_zip(a.with_suffix(".zip"), {"cat": 3, "dog": 2}, wrapper="pets/"),
            class_zip(b.with_suffix(".zip"), {"dog": 1, "bird": 1}),
        ),
        "object_detection": lambda: (
            yolo_zip(a.with_suffix(".zip")),
            make_zip(
                b.with_suffix(".zip"),
                {
                    "data.yaml": "names: [square, triangle]\n",
                    "images/t.png": yolo_members()["images/img0.png"],
                    "labels/t.txt": "0 0.5 0.5 0.2 0.2\n1 0.3 0.3 0.1 0.1\n",
                },
            ),
        ),
    }
    return builders[scenario]()


EXPECTED: dict[str, dict[str, Any]] = {
    "anomaly_detection": {"counts": {"train": 30, "test": 10}, "classes": []},
    "timeseries_predict": {"counts": {"train": 30, "test": 10}, "classes": []},
    "text_classification": {"counts": {"train": 12, "test": 4}, "classes": ["neg", "neutral", "pos"]},
    "log_clustering": {"counts": {"train": 4, "test": 2}, "classes": []},
    "image_classification": {"counts": {"train": 5, "test": 2}, "classes": ["cat", "dog", "bird"]},
    "object_detection": {"counts": {"train": 4, "test": 1}, "classes": ["circle", "square", "triangle"]},
}


@pytest.mark.parametrize("scenario", list(EXPECTED))
def test_release_layout(admin: Any, tmp_path: Path, scenario: str) -> None:
    dataset_id = new_dataset(admin, scenario)
    first, second = inputs(scenario, tmp_path)
    e1 = upload(admin, dataset_id, first)
    e2 = upload(admin, dataset_id, second, is_train=False, is_test=True)
    release = publish(admin, dataset_id)
    assert release.status == "published", release.error
    assert release.split_counts == EXPECTED[scenario]["counts"]
    zf = fetch(release, tmp_path)
    assert zf.testzip() is None
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["scenario"] == scenario and manifest["version"] == "v1" and manifest["format"] == 1
    assert {s: v["samples"] for s, v in manifest["splits"].items()} == EXPECTED[scenario]["counts"]
    assert "val" not in manifest["splits"]
    assert manifest["classes"] == EXPECTED[scenario]["classes"]
    names = set(zf.namelist())
    for split in manifest["splits"].values():
        assert set(split["files"]) <= names
    check_layout(scenario, zf, manifest, e1.id, e2.id)


def check_layout(scenario: str, zf: zipfile.ZipFile, manifest: dict[str, Any], e1: int, e2: int) -> None:
    train, test = manifest["splits"]["train"]["files"], manifest["splits"]["test"]["files"]
    if scenario in ("anomaly_detection", "timeseries_predict", "text_classification"):
        assert (train, test) == ([f"train/{e1}_a.csv"], [f"test/{e2}_b.csv"])
        import pandas as pd

        frame = pd.read_csv(io.BytesIO(zf.read(train[0])))
        assert len(frame) == manifest["splits"]["train"]["samples"]
    elif scenario == "log_clustering":
        assert zf.read(f"train/{e1}_a.log") == "one\ntwo \ufffd\nthree\nfour\n".encode()
        assert zf.read(f"test/{e2}_b.log").decode() == "五\n六\n"
    elif scenario == "image_classification":
        assert sorted(train) == [f"train/cat/{e1}_{i}.png" for i in range(3)] + [
            f"train/dog/{e1}_{i}.png" for i in range(2)
        ]
        assert sorted(test) == [f"test/bird/{e2}_0.png", f"test/dog/{e2}_0.png"]
        assert zf.getinfo(train[0]).compress_type == zipfile.ZIP_STORED  # PNG is not deflated again
    else:
        data = yaml.safe_load(zf.read("data.yaml"))
        assert data["names"] == {0: "circle", 1: "square", 2: "triangle"} and data["nc"] == 3
        assert data["train"] == "train/images" and data["test"] == "test/images" and "val" not in data
        assert f"train/images/{e1}_background.png" in train
        assert f"train/labels/{e1}_background.txt" not in zf.namelist()
        assert zf.read(f"train/labels/{e1}_img1.txt").decode() == "1 0.5 0.45 0.5 0.5\n0 0.2 0.2 0.1 0.1\n"
        # The second entry's ids are remapped onto the release's class list (square 0→1, triangle 1→2).
        assert zf.read(f"test/labels/{e2}_t.txt").decode() == "1 0.5 0.5 0.2 0.2\n2 0.3 0.3 0.1 0.1\n"
        assert manifest["splits"]["test"]["boxes"] == 2


def test_entry_in_two_splits(admin: Any, tmp_path: Path) -> None:
    dataset_id = new_dataset(admin, "image_classification")
    entry = upload(admin, dataset_id, class_zip(tmp_path / "p.zip", {"cat": 2}), is_val=True)
    release = publish(admin, dataset_id)
    assert release.split_counts == {"train": 2, "val": 2}
    names = fetch(release, tmp_path).namelist()
    assert f"val/cat/{entry.id}_1.png" in names and f"train/cat/{entry.id}_1.png" in names


def test_published_release_is_immutable(admin: Any, tmp_path: Path) -> None:
    from catalog.db import session_scope
    from catalog.services import datasets as ds
    from infra.objectstore import ObjectStore

    dataset_id = new_dataset(admin, "anomaly_detection")
    e1 = upload(admin, dataset_id, write(tmp_path / "a.csv", series_csv(20)))
    v1 = publish(admin, dataset_id)
    store = ObjectStore.from_settings()
    before = (store.stat(v1.object_key).etag, v1.sha256, v1.split_counts, v1.entries)
    # Later edits: flags changed, a new entry, a second release.
    with session_scope() as session:
        ds.set_entry_flags(session, actor=admin, entry_id=e1.id, is_train=True, is_test=True)
    upload(admin, dataset_id, write(tmp_path / "b.csv", series_csv(7, start="2026-01-01")))
    v2 = publish(admin, dataset_id)
    assert v2.version == "v2" and v2.object_key != v1.object_key
    assert v2.split_counts == {"train": 27, "test": 20}
    again = get_release(admin, v1.id)
    assert (store.stat(again.object_key).etag, again.sha256, again.split_counts, again.entries) == before
    manifest = json.loads(fetch(again, tmp_path).read("manifest.json"))
    assert manifest["splits"] == {"train": {"files": [f"train/{e1.id}_a.csv"], "samples": 20}}
    # Publishing v1 again is a no-op that keeps it as it is.
    from flows.datasets import publish_release

    assert publish_release(v1.id)["sha256"] == v1.sha256


def wait_readable(store: Any, keys: list[str], timeout: float = 60.0) -> None:
    """SeaweedFS reports healthy after a restart a moment before its volumes serve reads (InternalError)."""
    import time

    from infra.objectstore import ObjectStoreError

    deadline = time.monotonic() + timeout
    while True:
        try:
            for key in keys:
                store.get_bytes(key)
            return
        except ObjectStoreError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_s3_stopped_mid_publish_then_publish_again(
    admin: Any, tmp_path: Path, s3_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from catalog.db import session_scope
    from catalog.scenarios import Scenario
    from catalog.services import datasets as ds
    from catalog.services import releases as rel
    from flows.datasets import publish_release
    from infra.objectstore import ObjectStore
    from tasks import dataset_layouts

    dataset_id = new_dataset(admin, "anomaly_detection")
    for i in range(3):
        upload(admin, dataset_id, write(tmp_path / f"p{i}.csv", series_csv(40, start=f"202{i}-01-01")))
    store = ObjectStore.from_settings()
    entry_keys = {o.key for o in store.list()}
    with session_scope() as session:
        release = rel.create_release(session, actor=admin, dataset_id=dataset_id)
    original = dataset_layouts.LAYOUTS[Scenario.ANOMALY_DETECTION]
    outage = s3_server.stopped()
    calls = []

    def add_then_stop(writer: Any, entry: dict[str, Any], splits: list[str]) -> None:
        original.add_entry(writer, entry, splits)
        calls.append(entry["entry_id"])
        if len(calls) == 1:
            outage.__enter__()  # S3 goes down after the first entry was streamed into the zip

    monkeypatch.setitem(
        dataset_layouts.LAYOUTS, Scenario.ANOMALY_DETECTION, dataset_layouts.Layout(add_then_stop)
    )
    try:
        with pytest.raises(Exception, match="object store|ObjectStoreError|reach"):
            publish_release(release.id)
    finally:
        outage.__exit__(None, None, None)
    failed = get_release(admin, release.id)
    assert len(calls) == 1, "the build stopped at the outage"
    assert failed.status == "failed" and "ObjectStoreError" in (failed.error or "")
    assert (failed.object_key, failed.sha256, failed.size_bytes, failed.published_at) == (
        None,
        None,
        None,
        None,
    )
    with session_scope() as session:
        assert len(ds.list_entries(session, actor=admin, dataset_id=dataset_id)) == 3
    assert {o.key for o in store.list()} == entry_keys, "no orphan release object"

    monkeypatch.setitem(dataset_layouts.LAYOUTS, Scenario.ANOMALY_DETECTION, original)
    wait_readable(store, sorted(entry_keys))
    result = publish_release(release.id)  # failed → publishing → published
    again = get_release(admin, release.id)
    assert result["status"] == again.status == "published" and again.error is None
    assert again.split_counts == {"train": 120}
    assert {o.key for o in store.list()} == entry_keys | {again.object_key}
    fetch(again, tmp_path)


def test_entry_changed_in_storage_fails_the_release(admin: Any, tmp_path: Path) -> None:
    from infra.objectstore import ObjectStore

    dataset_id = new_dataset(admin, "log_clustering")
    entry = upload(admin, dataset_id, write(tmp_path / "x.log", "a\nb\n"))
    ObjectStore.from_settings().put_bytes(entry.object_key, b"tampered\n")
    with pytest.raises(Exception, match="checksum"):
        publish(admin, dataset_id)
    from catalog.db import session_scope
    from catalog.services import releases as rel

    with session_scope() as session:
        (release,) = rel.list_releases(session, actor=admin, dataset_id=dataset_id)
    assert release.status == "failed" and "checksum no longer matches" in release.error
    assert not [o for o in ObjectStore.from_settings().list("releases/")]


def test_archive_restore_and_download(admin: Any, tmp_path: Path) -> None:
    import httpx

    from catalog.db import session_scope
    from catalog.errors import ValidationError
    from catalog.services import releases as rel
    from infra.objectstore import ObjectStore
    from tasks.datasets import ReleaseBuildError, verified_download

    dataset_id = new_dataset(admin, "text_classification")
    upload(admin, dataset_id, write(tmp_path / "t.csv", text_csv(8)))
    release = publish(admin, dataset_id)
    store = ObjectStore.from_settings()
    url = store.presigned_get_url(release.object_key)
    import hashlib

    assert hashlib.sha256(httpx.get(url).content).hexdigest() == release.sha256
    with session_scope() as session:
        assert rel.archive_release(session, actor=admin, release_id=release.id).status == "archived"
    fetch(get_release(admin, release.id), tmp_path)  # archived releases still download
    with session_scope() as session, pytest.raises(ValidationError, match="archived"):
        rel.require_usable_release(
            session,
            actor=admin,
            release_id=release.id,
            team_id=min(admin.team_ids),
            scenario="text_classification",
        )
    with session_scope() as session:
        assert rel.restore_release(session, actor=admin, release_id=release.id).status == "published"
    with pytest.raises(ReleaseBuildError, match="checksum mismatch"):
        verified_download(store, key=release.object_key, sha256="0" * 64, target=tmp_path / "bad.zip")
    assert not (tmp_path / "bad.zip").exists() and not (tmp_path / "bad.zip.part").exists()
