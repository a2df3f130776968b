"""Dataset releases inside a container: download, sha256 verification, and reading splits from the zip.

Layout (docs/architecture.md): ``manifest.json`` at the root names each split's files; tabular scenarios
store ``{split}/{entry_id}_{name}.csv`` (concatenated per split), log clustering ``.log`` files (one message
per line), image scenarios class folders or YOLO folders. A split with no entries is absent.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from algorithms.base.config import ReleaseRef
from algorithms.base.storage import download

SPLITS: tuple[str, ...] = ("train", "val", "test")


class ReleaseError(RuntimeError):
    """The release cannot be used: checksum mismatch, missing manifest, unknown split..."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Release:
    """An opened, verified release zip."""

    path: Path
    manifest: dict[str, Any]

    @classmethod
    def open(cls, path: Path) -> Release:
        with zipfile.ZipFile(path) as zf:
            try:
                manifest = json.loads(zf.read("manifest.json"))
            except KeyError as exc:
                raise ReleaseError(f"{path.name} has no manifest.json at its root") from exc
        if not isinstance(manifest.get("splits"), dict):
            raise ReleaseError("manifest.json has no 'splits' object")
        return cls(path=path, manifest=manifest)

    @property
    def scenario(self) -> str:
        return str(self.manifest.get("scenario", ""))

    @property
    def splits(self) -> list[str]:
        """Splits present in the release, in train/val/test order."""
        present = self.manifest["splits"]
        return [s for s in SPLITS if s in present] + sorted(s for s in present if s not in SPLITS)

    def has_split(self, split: str) -> bool:
        return split in self.manifest["splits"] and bool(self.split_files(split))

    def split_files(self, split: str) -> list[str]:
        """Zip member names of a split, as listed by the manifest (empty when the split is absent)."""
        entry = self.manifest["splits"].get(split) or {}
        return [str(f) for f in entry.get("files") or []]

    def read_table(self, split: str) -> pd.DataFrame:
        """All CSV files of a split concatenated into one DataFrame (tabular scenarios)."""
        files = [f for f in self.split_files(split) if f.lower().endswith(".csv")]
        if not files:
            raise ReleaseError(f"split {split!r} has no CSV files")
        with zipfile.ZipFile(self.path) as zf:
            frames = [pd.read_csv(io.BytesIO(self._read_member(zf, name))) for name in files]
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    def read_lines(self, split: str) -> list[str]:
        """All lines of a split's ``.log`` files, in file order (log clustering)."""
        lines: list[str] = []
        with zipfile.ZipFile(self.path) as zf:
            for name in self.split_files(split):
                text = self._read_member(zf, name).decode("utf-8", errors="replace")
                lines.extend(line for line in text.splitlines() if line.strip())
        return lines

    def extract(self, dest: Path) -> Path:
        """Unpack the whole zip (image scenarios read folders); refuses members escaping ``dest``."""
        dest.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(self.path) as zf:
            for member in zf.namelist():
                pure = PurePosixPath(member)
                if pure.is_absolute() or ".." in pure.parts:
                    raise ReleaseError(f"unsafe path in release zip: {member}")
            zf.extractall(dest)
        return dest

    @staticmethod
    def _read_member(zf: zipfile.ZipFile, name: str) -> bytes:
        try:
            return zf.read(name)
        except KeyError as exc:
            raise ReleaseError(f"manifest lists {name} but the zip does not contain it") from exc


def fetch_release(ref: ReleaseRef, workdir: Path) -> Release:
    """Download the release to ``workdir``, verify its sha256 and open it."""
    path = download(ref.uri, workdir / "release.zip")
    actual = sha256_file(path)
    if actual != ref.sha256.lower():
        raise ReleaseError(f"release checksum mismatch for {ref.uri}: expected {ref.sha256}, got {actual}")
    return Release.open(path)
