"""Release building: stream a release's entries from S3 into one zip in its scenario's layout, straight back
into S3, with the zip's sha256 computed on the way.

Memory and disk stay flat whatever the size: the zip is written into a bounded in-memory pipe that a
background thread uploads in multipart parts (``ReleasePipe``); nothing is staged on disk except one zip
entry at a time (zips need seeking). Compression and upload overlap, on two cores. If anything fails the
pipe is broken, the multipart upload is aborted (no object appears, no parts stay behind) and the error
propagates.

Also the reads of dataset objects the user-facing edges make, with the platform's store: the head of an entry
and a whole entry (previews), a release's presigned link and its download verified against its sha256 (to a
file, or as blocks for the API's streamed answers). Callers pass keys they obtained through the catalog's
scoped services.
"""

from __future__ import annotations

import hashlib
import io
import json
import queue
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from prefect import task

from catalog.db import session_scope
from catalog.models import Dataset, DatasetRelease
from catalog.scenarios import Scenario
from catalog.scoping import SYSTEM
from catalog.services import datasets as datasets_service
from catalog.services import releases as releases_service
from infra.objectstore import ObjectStore, ObjectStoreError
from infra.settings import get_settings
from tasks.dataset_layouts import ReleaseBuildError, write_release

BLOCK = 1 << 20  # what the writer hands the uploader at a time
QUEUE_BLOCKS = 8  # bounded: a slow upload makes the zip writer wait instead of buffering
PART_SIZE = 8 * 1024 * 1024  # minio keeps up to 3 parts in flight plus the one being filled
_EOF = b""

__all__ = [
    "ReleaseBuildError",
    "ReleasePipe",
    "abort_release_uploads",
    "build_release_zip",
    "download_object",
    "object_head",
    "presigned_link",
    "release_key",
    "stream_release",
    "verified_blocks",
    "verified_download",
]


class PipeBroken(Exception):
    """The other side of the pipe failed; its own error is the one to report."""


class ReleasePipe(io.RawIOBase):
    """Write side for ``zipfile`` (unseekable, with ``tell``), read side for the S3 upload thread."""

    def __init__(self) -> None:
        super().__init__()
        self._queue: queue.Queue[bytes] = queue.Queue(maxsize=QUEUE_BLOCKS)
        self._buffer = bytearray()
        self._pending = b""
        self.digest = hashlib.sha256()
        self.size = 0
        self.broken = threading.Event()
        self._eof = False

    # -- writer side (zipfile) -----------------------------------------------------------------------------
    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.size

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.size += len(view)
        self._buffer += view
        if len(self._buffer) >= BLOCK:
            self._put(bytes(self._buffer))
            self._buffer.clear()
        return len(view)

    def _put(self, block: bytes) -> None:
        while True:
            if self.broken.is_set():
                raise PipeBroken("the upload stopped")
            try:
                self._queue.put(block, timeout=0.2)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        if self._buffer:
            self._put(bytes(self._buffer))
            self._buffer.clear()
        self._put(_EOF)

    def break_(self) -> None:
        self.broken.set()

    # -- reader side (minio put_object) --------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        # Fill the whole request: minio concatenates short reads into a part, copying each time.
        want = (1 << 62) if size is None or size < 0 else size
        out = bytearray(self._pending[:want])
        self._pending = self._pending[want:]
        while len(out) < want and not self._eof:
            block = self._get()
            if block == _EOF:
                self._eof = True
                break
            take = want - len(out)
            out += block[:take]
            self._pending = block[take:]
        # Hashed here, on the upload thread: exactly the bytes uploaded, and off the compressing thread.
        self.digest.update(out)
        return bytes(out)

    def _get(self) -> bytes:
        while True:
            if self.broken.is_set():
                raise PipeBroken("the zip writer stopped")
            try:
                return self._queue.get(timeout=0.2)
            except queue.Empty:
                continue


def release_key(release: DatasetRelease) -> str:
    return f"releases/{release.dataset_id}/{release.id}/{release.version}.zip"


def stream_release(
    *, release: DatasetRelease, dataset: Dataset, store: ObjectStore, key: str
) -> dict[str, Any]:
    """Write the release zip into S3 at ``key``; returns key, size, sha256, split counts and the manifest."""
    pipe = ReleasePipe()
    failure: list[BaseException] = []

    def upload() -> None:
        try:
            store.put_stream(key, pipe, length=-1, content_type="application/zip", part_size=PART_SIZE)
        except BaseException as exc:  # noqa: BLE001 - handed to the writer thread, which re-raises it
            failure.append(exc)
            pipe.break_()

    uploader = threading.Thread(target=upload, name=f"upload-{key}", daemon=True)
    uploader.start()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="mlops-release-") as tmp,
            zipfile.ZipFile(
                pipe, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True
            ) as zf,
        ):  # type: ignore[arg-type]
            writer = write_release(
                zf=zf,
                scenario=Scenario(dataset.scenario),
                entries=release.entries,
                store=store,
                tmp=Path(tmp),
            )
            manifest: dict[str, Any] = {
                "format": 1,
                "dataset_id": dataset.id,
                "dataset": dataset.name,
                "version": release.version,
                "release_id": release.id,
                "scenario": dataset.scenario,
                "splits": writer.splits,
                "classes": writer.classes,
            }
            zf.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        pipe.finish()
    except PipeBroken:
        uploader.join()
        abort_release_uploads(store, key)
        raise failure[0] from None
    except BaseException:
        pipe.break_()
        uploader.join()
        abort_release_uploads(store, key)
        raise
    uploader.join()
    if failure:
        abort_release_uploads(store, key)
        raise failure[0]
    stored = store.stat(key)
    if stored.size != pipe.size:
        raise ReleaseBuildError(f"stored release has {stored.size} bytes, {pipe.size} were written")
    counts = {split: info["samples"] for split, info in writer.splits.items()}
    return {
        "object_key": key,
        "size_bytes": pipe.size,
        "sha256": pipe.digest.hexdigest(),
        "split_counts": counts,
        "manifest": manifest,
    }


def abort_release_uploads(store: ObjectStore, key: str) -> int:
    """Abort what is left of multipart uploads at a release's key; best effort, returns how many.

    The SDK aborts the upload it created when anything raises inside ``put_object``, but not if that abort
    request fails as well; a killed process aborts nothing (``tasks.maintenance`` finds those later). Only one
    publish holds a release at a time (``claim_publish``), so every upload at its key is this one's leftover.
    """
    try:
        return store.abort_incomplete_uploads(key)
    except ObjectStoreError:
        return 0


def _store() -> ObjectStore:
    return ObjectStore.from_settings(get_settings().s3)


def object_head(key: str, limit: int) -> bytes:
    """The first ``limit`` bytes of an object: a preview reads no more of it."""
    with _store().get_stream(key) as src:
        return src.read(limit)


def download_object(key: str, target: Path) -> Path:
    _store().download_file(key, target)
    return target


def presigned_link(key: str) -> str:
    """A URL that fetches the object without credentials, for a limited time."""
    return _store().presigned_get_url(key)


def verified_download(store: ObjectStore | None = None, *, key: str, sha256: str, target: Path) -> Path:
    """Stream an object to ``target`` (through ``target.part``), kept only if its sha256 matches. ``store``
    defaults to the platform's."""
    store = store or _store()
    digest = hashlib.sha256()
    partial = target.with_name(target.name + ".part")
    try:
        with store.get_stream(key) as src, partial.open("wb") as dst:
            for chunk in iter(lambda: src.read(BLOCK), b""):
                digest.update(chunk)
                dst.write(chunk)
        if digest.hexdigest() != sha256:
            raise ReleaseBuildError(
                f"checksum mismatch for {key}: got {digest.hexdigest()}, expected {sha256}"
            )
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return target


def verified_blocks(key: str, *, size: int, sha256: str, store: ObjectStore | None = None) -> Iterator[bytes]:
    """An object's bytes in blocks for a streamed answer (the API's downloads), checked against the size and
    sha256 the catalog recorded. The last block is held back until both match: on a mismatch the iterator
    raises instead, so a reader is cut off short of a complete body rather than handed a wrong one.

    The object is opened here, before the first block is asked for, so a missing object or an unreachable
    store is an error the caller can still answer properly."""
    stack = ExitStack()
    src = stack.enter_context((store or _store()).get_stream(key))

    def blocks() -> Iterator[bytes]:
        with stack:
            digest = hashlib.sha256()
            held = b""
            seen = 0
            for chunk in iter(lambda: src.read(BLOCK), b""):
                digest.update(chunk)
                seen += len(chunk)
                if held:
                    yield held
                held = chunk
            if seen != size or digest.hexdigest() != sha256:
                raise ReleaseBuildError(
                    f"{key}: stored object has {seen} bytes, sha256 {digest.hexdigest()}; the catalog "
                    f"recorded {size} bytes, sha256 {sha256}"
                )
            if held:
                yield held

    return blocks()


@task(name="build-release-zip")
def build_release_zip(release_id: int) -> dict[str, Any]:
    """Build and upload the zip of a release in PUBLISHING; returns key, size, sha256 and split counts."""
    with session_scope() as session:
        release = releases_service.get_release(session, actor=SYSTEM, release_id=release_id)
        dataset = datasets_service.get_dataset(session, actor=SYSTEM, dataset_id=release.dataset_id)
    store = _store()
    built = stream_release(release=release, dataset=dataset, store=store, key=release_key(release))
    built.pop("manifest")
    return built


@task(name="discard-release-object")
def discard_release_object(object_key: str) -> bool:
    """Best effort: remove what a failed publish may have left at its key, the object it completed or an
    upload it did not. False if S3 refused."""
    store = _store()
    try:
        store.delete(object_key)
        store.abort_incomplete_uploads(object_key)
    except Exception:  # noqa: BLE001 - the publish already failed; its error is the one that matters
        return False
    return True
