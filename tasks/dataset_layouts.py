"""Release zip layouts, one per scenario, looked up in one table (``LAYOUTS``); see docs/architecture.md.

A layout puts one frozen entry into each of its splits through a ``ReleaseWriter`` (which owns the zip, the
per-split file lists and sample counts, and the release's class list) and may add files at the end
(``data.yaml`` for detection). Entries are read as streams and written member by member, so memory stays
bounded by one copy buffer (or one YOLO label file) whatever the size of the release.
"""

from __future__ import annotations

import hashlib
import queue
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import yaml

from catalog.errors import ValidationError
from catalog.scenarios import Scenario
from catalog.validators.images import class_of
from catalog.validators.logreader import LogReader
from catalog.validators.yolo import MARKERS, parse_labels, read_layout
from catalog.validators.zipsafe import copy_member, open_zip, read_member
from infra.objectstore import ObjectStore

CHUNK = 1 << 20
READ_AHEAD_BLOCKS = 4
COMPRESS_LEVEL = 1
SPLITS = ("train", "val", "test")
# Already-compressed formats gain nothing from deflate; storing them saves the CPU time.
STORED_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".zip", ".gz"})


class ReleaseBuildError(Exception):
    """An entry could not be put into the release (missing object, checksum mismatch, bad layout...)."""


class _ReadAhead:
    """Reads the next blocks of an S3 stream in a thread (bounded), so network reads and hashing overlap
    compression, which runs on the caller's thread and is the bottleneck. ``digest`` is complete once the
    caller has read to the end."""

    def __init__(self, raw: BinaryIO, blocks: int = READ_AHEAD_BLOCKS) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=blocks)
        self._stop = threading.Event()
        self._buffer = b""
        self._eof = False
        self._thread = threading.Thread(target=self._fill, daemon=True, name="release-read-ahead")
        self._thread.start()

    def _fill(self) -> None:
        try:
            while not self._stop.is_set():
                block = self.raw.read(CHUNK)
                self.digest.update(block)
                self._offer(block)
                if not block:
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
            self._offer(exc)

    def _offer(self, item: bytes | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def read(self, size: int = -1) -> bytes:
        while not self._buffer and not self._eof:
            item = self._queue.get()
            if isinstance(item, BaseException):
                raise item
            self._eof = not item
            self._buffer = item
        if size is None or size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class ReleaseWriter:
    """The zip being written and what the manifest will say about it."""

    zf: zipfile.ZipFile
    store: ObjectStore
    tmp: Path
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)

    def split(self, name: str) -> dict[str, Any]:
        return self.splits.setdefault(name, {"files": [], "samples": 0})

    def class_ids(self, names: list[str]) -> list[int]:
        """Release-wide ids of an entry's class names (the release's list is their union, in order seen)."""
        for name in names:
            if name not in self.classes:
                self.classes.append(name)
        return [self.classes.index(n) for n in names]

    @contextmanager
    def member(self, split: str, name: str) -> Iterator[BinaryIO]:
        compress = PurePosixPath(name).suffix.lower() not in STORED_SUFFIXES
        info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        # A ZipInfo opened for writing ignores the ZipFile's compresslevel (default 6: ~3x slower than 1, for
        # a few percent smaller CSVs); 3.11 names the attribute _compresslevel, 3.13 compress_level.
        for attr in ("compress_level", "_compresslevel"):
            if hasattr(zipfile.ZipInfo, attr):
                setattr(info, attr, COMPRESS_LEVEL)
        info.external_attr = 0o644 << 16
        with self.zf.open(info, "w", force_zip64=True) as dst:
            yield dst  # type: ignore[misc]
        self.split(split)["files"].append(name)

    @contextmanager
    def entry_stream(self, entry: dict[str, Any]) -> Iterator[BinaryIO]:
        """The entry's object as a stream; its sha256 is checked once the caller has read it all."""
        with self.store.get_stream(entry["object_key"]) as raw:
            reader = _ReadAhead(raw)
            try:
                yield reader  # type: ignore[misc]
                if reader.read(1):
                    raise ReleaseBuildError(
                        f"entry {entry['name']!r} (id {entry['entry_id']}) was not read to its end"
                    )
            finally:
                reader.close()
        _check_digest(entry, reader.digest.hexdigest())

    @contextmanager
    def entry_file(self, entry: dict[str, Any]) -> Iterator[Path]:
        """The entry's object downloaded to a temporary file (zips need seeking), checksum verified."""
        with tempfile.NamedTemporaryFile(dir=self.tmp, suffix=".zip") as fh:
            with self.entry_stream(entry) as src:
                shutil.copyfileobj(src, fh, CHUNK)  # type: ignore[misc]
            fh.flush()
            yield Path(fh.name)


def _check_digest(entry: dict[str, Any], actual: str) -> None:
    if actual != entry["sha256"]:
        raise ReleaseBuildError(
            f"entry {entry['name']!r} (id {entry['entry_id']}) changed in storage: its "
            "checksum no longer matches"
        )


def _stem(entry: dict[str, Any]) -> str:
    return f"{entry['entry_id']}_{PurePosixPath(entry['name']).stem}"


def _flat(path: str) -> str:
    return path.replace("/", "_")


def add_table(w: ReleaseWriter, entry: dict[str, Any], splits: list[str]) -> None:
    rows = int((entry.get("summary") or {}).get("rows") or 0)
    for split in splits:
        with w.entry_stream(entry) as src, w.member(split, f"{split}/{_stem(entry)}.csv") as dst:
            shutil.copyfileobj(src, dst, CHUNK)  # type: ignore[misc]
        w.split(split)["samples"] += rows
    w.class_ids([str(c) for c in (entry.get("summary") or {}).get("classes") or []])


def add_log(w: ReleaseWriter, entry: dict[str, Any], splits: list[str]) -> None:
    """Normalised on the way: UTF-8, ``\\n`` line ends, blank lines dropped (the summary counts messages)."""
    for split in splits:
        lines = 0
        with w.entry_stream(entry) as src, w.member(split, f"{split}/{_stem(entry)}.log") as dst:
            batch: list[str] = []
            for line in LogReader(src, filename=entry["name"]).lines():  # type: ignore[arg-type]
                if line.strip():
                    batch.append(line)
                    lines += 1
                    if len(batch) >= 10_000:
                        dst.write(("\n".join(batch) + "\n").encode("utf-8"))
                        batch.clear()
            if batch:
                dst.write(("\n".join(batch) + "\n").encode("utf-8"))
        w.split(split)["samples"] += lines


def _unique(taken: set[str], name: str) -> str:
    candidate, n = name, 1
    while candidate in taken:
        path = PurePosixPath(name)
        candidate, n = str(path.with_name(f"{path.stem}_{n}{path.suffix}")), n + 1
    taken.add(candidate)
    return candidate


def add_class_folders(w: ReleaseWriter, entry: dict[str, Any], splits: list[str]) -> None:
    with w.entry_file(entry) as path, open_zip(path, entry["name"], depth=2) as (zf, members):
        for split in splits:
            taken: set[str] = set()
            for member in members:
                label = class_of(member, entry["name"])
                w.class_ids([label])
                rest = _flat(str(PurePosixPath(*PurePosixPath(member.path).parts[1:])))
                name = _unique(taken, f"{split}/{label}/{entry['entry_id']}_{rest}")
                with w.member(split, name) as dst:
                    copy_member(zf, member, dst, entry["name"])
            w.split(split)["samples"] += len(members)


def add_yolo(w: ReleaseWriter, entry: dict[str, Any], splits: list[str]) -> None:
    with w.entry_file(entry) as path, open_zip(path, entry["name"], markers=MARKERS) as (zf, members):
        layout = read_layout(zf, members, entry["name"])
        ids = w.class_ids(layout.classes)
        for split in splits:
            boxes = 0
            for key, member in layout.images.items():
                base = f"{entry['entry_id']}_{_flat(key)}"
                suffix = PurePosixPath(member.path).suffix.lower()
                with w.member(split, f"{split}/images/{base}{suffix}") as dst:
                    copy_member(zf, member, dst, entry["name"])
                label = layout.labels.get(key)
                if label is None:
                    continue  # a background image: YOLO reads "no label file" as "no objects"
                found = parse_labels(
                    read_member(zf, label, entry["name"]),
                    f"{entry['name']}: {label.info.filename}",
                    len(layout.classes),
                )
                text = "".join(
                    f"{ids[c]} {cx:.6g} {cy:.6g} {bw:.6g} {bh:.6g}\n" for c, cx, cy, bw, bh in found
                )
                with w.member(split, f"{split}/labels/{base}.txt") as dst:
                    dst.write(text.encode("utf-8"))
                boxes += len(found)
            info = w.split(split)
            info["samples"] += len(layout.images)
            info["boxes"] = info.get("boxes", 0) + boxes


def finish_yolo(w: ReleaseWriter) -> None:
    data: dict[str, Any] = {"path": "."}
    for split in SPLITS:
        if split in w.splits:
            data[split] = f"{split}/images"
    data["nc"] = len(w.classes)
    data["names"] = dict(enumerate(w.classes))
    with w.zf.open("data.yaml", "w") as dst:
        dst.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode("utf-8"))


@dataclass(frozen=True)
class Layout:
    add_entry: Callable[[ReleaseWriter, dict[str, Any], list[str]], None]
    finish: Callable[[ReleaseWriter], None] | None = None


LAYOUTS: dict[Scenario, Layout] = {
    Scenario.ANOMALY_DETECTION: Layout(add_table),
    Scenario.TIMESERIES_PREDICT: Layout(add_table),
    Scenario.TEXT_CLASSIFICATION: Layout(add_table),
    Scenario.LOG_CLUSTERING: Layout(add_log),
    Scenario.IMAGE_CLASSIFICATION: Layout(add_class_folders),
    Scenario.OBJECT_DETECTION: Layout(add_yolo, finish_yolo),
}


def write_release(
    *, zf: zipfile.ZipFile, scenario: Scenario, entries: list[dict[str, Any]], store: ObjectStore, tmp: Path
) -> ReleaseWriter:
    """Every entry into ``zf`` in the scenario's layout; the writer holds what the manifest needs."""
    layout = LAYOUTS[scenario]
    writer = ReleaseWriter(zf=zf, store=store, tmp=tmp)
    for entry in entries:
        try:
            layout.add_entry(writer, entry, [s for s in SPLITS if s in entry["splits"]])
        except ValidationError as exc:
            raise ReleaseBuildError(f"entry {entry['name']!r} (id {entry['entry_id']}): {exc}") from None
    if layout.finish is not None:
        layout.finish(writer)
    return writer
