"""Entry uploads as a request body stream, stored in the object store while they arrive.

The validators (``catalog.validators``) read files — a zip's directory is at its end, a CSV is read twice —
so the body is written to a staging file as it arrives: counted against ``MLOPS_UPLOAD_MAX_BYTES`` (a
``Content-Length`` over it is refused before a byte is read; a body that grows past it is cut off there),
hashed (sha256), in blocks of at most ``BLOCK`` bytes. The staging file lives in the temporary directory
(``TMPDIR``), holds at most the upload limit, and is deleted when the request ends.

While the body arrives, a part uploader (``PartUploader``, a thread) follows the staging file and sends each
``PART_SIZE`` bytes to S3 as a part of a multipart upload, read back from the file, ``PARALLEL`` parts at a
time: memory holds that many parts whatever the file's size, and a slow object store does not slow the
receiving down. When the body has arrived, the file is validated while the last parts are still going up.
The multipart upload is completed only once the file has passed validation: a refused, oversized, broken or
abandoned upload is aborted, and leaves no object, no parts and no row. The team's stored-bytes quotas
(``catalog.services.quotas``) are read once before a byte is read and checked against the announced length
and against what has arrived before each block is written (so before any part of it goes to S3), and read
again before the upload is completed; the row's insert checks them a last time, under the quota lock. A body smaller than one part is
stored with a single put after validation. The rest is ``catalog.uploads``, the steps the dashboard's
uploads take: the scenario read through scoping, the object key, the row (whose failure deletes the object
again).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from catalog.models import DatasetEntry
from catalog.scoping import Actor
from catalog.uploads import (
    check_room,
    check_size,
    dataset_scenario,
    entry_key,
    record_entry,
    safe_filename,
    storage_room,
)
from catalog.validators import validate_upload
from infra.objectstore import ObjectStore
from infra.settings import get_settings

log = logging.getLogger("mlops.api.uploads")

# S3 parts are at least 5 MiB (but the last); 8 MiB keeps the part count of a 1 GB upload near 128.
PART_SIZE = 8 * 1024 * 1024
PARALLEL = 2  # parts in flight at once (memory: this many parts)
BLOCK = 1024 * 1024  # what the request side writes and hashes at a time


class UploadAborted(Exception):
    """The part uploader was told to stop (the upload was refused or failed elsewhere)."""


class PartUploader:
    """Sends the staging file to S3 in parts as it grows: ``grown(n)`` says n bytes are written, ``finish()``
    that no more will come. Run in its own thread (``start``); ``join`` returns the parts' ETags or raises
    what failed."""

    def __init__(self, store: ObjectStore, key: str, path: Path) -> None:
        self.store = store
        self.key = key
        self.path = path
        self.upload_id: str | None = None
        self.etags: list[str] = []
        self._written = 0
        self._finished = False
        self._stopped = False
        self._error: BaseException | None = None
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"parts-{key}", daemon=True)
        self.started = False

    def grown(self, written: int) -> None:
        """``written`` bytes are in the file (the first full part starts the thread); raises what failed."""
        if self._error is not None:
            raise self._error
        if not self.started and written >= PART_SIZE:
            self.started = True
            self._thread.start()
        with self._changed:
            self._written = written
            self._changed.notify()

    def finish(self) -> None:
        with self._changed:
            self._finished = True
            self._changed.notify()

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify()

    def _next_part(self, sent: int) -> int:
        """Bytes of the next part once they are there (0: nothing more to send)."""
        with self._changed:
            while True:
                if self._stopped:
                    raise UploadAborted
                if self._written - sent >= PART_SIZE:
                    return PART_SIZE
                if self._finished:
                    return self._written - sent
                self._changed.wait()

    def _run(self) -> None:
        try:
            sent = 0
            # Parts go up PARALLEL at a time (the S3 client's own uploads send 3); no more are read meanwhile.
            with ThreadPoolExecutor(PARALLEL, thread_name_prefix="part") as pool, self.path.open("rb") as fh:
                parts: list[Future[str]] = []
                while size := self._next_part(sent):
                    busy = [f for f in parts if not f.done()]
                    if len(busy) >= PARALLEL:
                        wait(busy, return_when=FIRST_COMPLETED)
                    for done in parts:
                        if done.done() and done.exception() is not None:
                            raise done.exception()  # type: ignore[misc]
                    data = fh.read(size)
                    if self.upload_id is None:
                        self.upload_id = self.store.start_upload(self.key)
                    parts.append(
                        pool.submit(self.store.upload_part, self.key, self.upload_id, len(parts) + 1, data)
                    )
                    sent += size
                    del data
                self.etags = [f.result() for f in parts]
        except BaseException as exc:  # noqa: BLE001 - handed to the request, raised by grown() or join()
            self._error = exc

    def join(self) -> list[str]:
        if self.started:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self.etags

    def abort(self) -> None:
        """Stop, wait for a part in flight, abort the multipart upload (best effort: no object appears)."""
        self.stop()
        if self.started:
            self._thread.join()
        if self.upload_id is not None:
            try:
                self.store.abort_upload(self.key, self.upload_id)
            except Exception:  # the upload already failed; that error is the one reported
                log.warning("could not abort the multipart upload of %s", self.key, exc_info=True)


class Staging:
    """The staging file of one upload, written and hashed on the request side."""

    def __init__(self) -> None:
        fd, name = tempfile.mkstemp(prefix="mlops-upload-")
        self.fd = fd
        self.path = Path(name)
        self.digest = hashlib.sha256()
        self.written = 0

    def write(self, block: bytes) -> None:
        view = memoryview(block)
        while view:
            view = view[os.write(self.fd, view) :]
        self.digest.update(block)
        self.written += len(block)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


async def receive_entry(
    body: AsyncIterator[bytes],
    *,
    actor: Actor,
    dataset_id: int,
    filename: str,
    content_type: str,
    declared: int | None,
    is_train: bool,
    is_val: bool,
    is_test: bool,
    timings: dict[str, float] | None = None,
) -> DatasetEntry:
    """Store the streamed ``body`` as a new entry of the dataset; see the module docstring. Raises the
    catalog's errors (``UploadTooLarge`` included) with nothing left behind. ``timings`` gets the seconds
    each step took (receive: the body in; validate; store: the last parts sent and joined; record)."""
    timings = {} if timings is None else timings
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = now - clock
        clock = now

    filename = safe_filename(filename)
    # Scoping first, before a byte is read: a foreign or missing dataset is a 404 whatever was sent.
    scenario = await run_in_threadpool(lambda: dataset_scenario(actor=actor, dataset_id=dataset_id))
    ctype = content_type.split(";")[0].strip().lower()
    if ctype != "application/octet-stream":
        raise ApiError(
            415, f"send the file as the raw body, application/octet-stream (got {ctype[:60] or 'none'})"
        )
    if declared is not None:
        check_size(filename, declared)
    # The stored-bytes quotas, read once: checked against what arrives before any of it goes to S3.
    room = await run_in_threadpool(lambda: storage_room(actor=actor, dataset_id=dataset_id))
    if declared is not None:
        room.check(declared)
    store = ObjectStore.from_settings(get_settings().s3)
    key = entry_key(dataset_id, filename)
    staging = Staging()
    parts = PartUploader(store, key, staging.path)
    stored = False
    try:
        buffer = bytearray()
        async for chunk in body:
            check_size(filename, staging.written + len(buffer) + len(chunk), complete=False)
            room.check(staging.written + len(buffer) + len(chunk))
            buffer += chunk
            if len(buffer) >= BLOCK:
                # Written and hashed here, on the event loop: a millisecond a block, a thread hop would cost
                # about as much.
                staging.write(bytes(buffer))
                buffer = bytearray()
                parts.grown(staging.written)
        staging.write(bytes(buffer))
        staging.close()
        multipart = staging.written >= PART_SIZE
        if multipart:
            parts.grown(staging.written)
            parts.finish()
        lap("receive")
        validated = await run_in_threadpool(validate_upload, scenario, staging.path, filename)
        # Read again before the object is completed: an upload that ended meanwhile may have taken the room.
        await run_in_threadpool(lambda: check_room(actor=actor, dataset_id=dataset_id, size=staging.written))
        lap("validate")
        if multipart:
            etags = await run_in_threadpool(parts.join)
            await run_in_threadpool(store.complete_upload, key, parts.upload_id, etags)
        else:
            await run_in_threadpool(
                lambda: store.put_file(key, staging.path, content_type=validated.content_type)
            )
        stored = True
        lap("store")
        entry = await run_in_threadpool(
            lambda: record_entry(
                actor=actor,
                dataset_id=dataset_id,
                filename=filename,
                key=key,
                size=staging.written,
                sha256=staging.digest.hexdigest(),
                validated=validated,
                store=store,
                is_train=is_train,
                is_val=is_val,
                is_test=is_test,
            )
        )
        lap("record")
        return entry
    except BaseException:
        if not stored:  # once stored, record_entry deletes the object itself if the row fails
            # Shielded: runs to its end even while the request is being cancelled (the client left).
            await asyncio.shield(run_in_threadpool(parts.abort))
        raise
    finally:
        await asyncio.shield(run_in_threadpool(staging.remove))
