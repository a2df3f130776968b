"""Release building: stream a release's entries from S3 into one zip in the standard layout, upload it.

Memory stays flat whatever the size: entries are copied chunk by chunk into a zip written to a temporary
file, which is then uploaded with multipart. Each entry's sha256 is checked while it is copied.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from prefect import task

from catalog.db import session_scope
from catalog.models import Dataset, DatasetRelease
from catalog.scenarios import Scenario
from catalog.scoping import SYSTEM
from catalog.services import datasets as datasets_service
from infra.objectstore import ObjectStore
from infra.settings import get_settings

CHUNK = 1 << 20


class ReleaseBuildError(Exception):
    """An entry could not be put into the release (missing object, checksum mismatch...)."""


class _HashingReader:
    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        return data


def _tabular_name(entry: dict[str, Any], split: str) -> str:
    return f"{split}/{entry['entry_id']}_{Path(entry['name']).stem}.csv"


def _log_name(entry: dict[str, Any], split: str) -> str:
    return f"{split}/{entry['entry_id']}_{Path(entry['name']).stem}.log"


# Where each scenario puts one entry file inside the release zip (one table, no if-chain).
ARCNAMES: dict[Scenario, Callable[[dict[str, Any], str], str]] = {
    Scenario.ANOMALY_DETECTION: _tabular_name,
    Scenario.TIMESERIES_PREDICT: _tabular_name,
    Scenario.TEXT_CLASSIFICATION: _tabular_name,
    Scenario.LOG_CLUSTERING: _log_name,
}


def _samples(entry: dict[str, Any]) -> int:
    summary = entry.get("summary") or {}
    return int(summary.get("rows") or summary.get("lines") or summary.get("images") or 0)


def release_key(release: DatasetRelease) -> str:
    return f"releases/{release.dataset_id}/{release.id}/{release.version}.zip"


def write_release_zip(
    *, release: DatasetRelease, dataset: Dataset, store: ObjectStore, out: Path
) -> dict[str, Any]:
    """Write the zip to ``out``; returns the manifest."""
    scenario = Scenario(dataset.scenario)
    arcname = ARCNAMES.get(scenario)
    if arcname is None:
        raise ReleaseBuildError(f"releases of {scenario.value} datasets are not supported yet")
    splits: dict[str, dict[str, Any]] = {}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True) as zf:
        for entry in release.entries:
            for split in entry["splits"]:
                name = arcname(entry, split)
                with store.get_stream(entry["object_key"]) as raw, zf.open(name, "w", force_zip64=True) as dst:
                    reader = _HashingReader(raw)
                    shutil.copyfileobj(reader, dst, CHUNK)  # type: ignore[misc]
                if reader.digest.hexdigest() != entry["sha256"]:
                    raise ReleaseBuildError(f"entry {entry['name']!r} (id {entry['entry_id']}) changed in "
                                            "storage: its checksum no longer matches")
                info = splits.setdefault(split, {"files": [], "samples": 0})
                info["files"].append(name)
                info["samples"] += _samples(entry)
        manifest = {"format": 1, "dataset_id": dataset.id, "dataset": dataset.name, "version": release.version,
                    "release_id": release.id, "scenario": scenario.value, "splits": splits}
        zf.writestr("manifest.json", json.dumps(manifest, indent=2))
    return manifest


def sha256_path(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@task(name="build-release-zip")
def build_release_zip(release_id: int) -> dict[str, Any]:
    """Build and upload the zip of a release in PUBLISHING; returns key, size, sha256 and split counts."""
    with session_scope() as session:
        release = datasets_service.get_release(session, actor=SYSTEM, release_id=release_id)
        dataset = datasets_service.get_dataset(session, actor=SYSTEM, dataset_id=release.dataset_id)
    store = ObjectStore.from_settings(get_settings().s3)
    key = release_key(release)
    with tempfile.TemporaryDirectory(prefix="mlops-release-") as tmp:
        path = Path(tmp) / "release.zip"
        manifest = write_release_zip(release=release, dataset=dataset, store=store, out=path)
        digest = sha256_path(path)
        size = path.stat().st_size
        store.put_file(key, path, content_type="application/zip", metadata={"sha256": digest})
    counts = {split: info["samples"] for split, info in manifest["splits"].items()}
    return {"object_key": key, "size_bytes": size, "sha256": digest, "split_counts": counts}
