"""Entry uploads as a request body stream, stored in the object store while they arrive.

The body goes three ways at once, a part at a time: counted against ``MLOPS_UPLOAD_MAX_BYTES`` (a
``Content-Length`` over it is refused before a byte is read; a body that grows past it is cut off there),
hashed (sha256), and sent to S3 as the parts of a multipart upload — so memory holds at most two parts
(``PART_SIZE``: one filling, one in flight), whatever the file's size.

The validators (``catalog.validators``) read files — a zip's directory is at its end, a CSV is read twice —
so the body is also written to a staging file, bounded by the same limit and deleted when the request ends.
The multipart upload is completed only once the file has passed validation: a refused, oversized, broken
or abandoned upload is aborted, and leaves no object, no parts and no row. A body smaller than one part is
never sent before validation; it is stored with a single put afterwards. The rest is ``catalog.uploads``,
the steps the dashboard's uploads take: the scenario read through scoping, the object key, the row (whose
failure deletes the object again).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from catalog.models import DatasetEntry
from catalog.scoping import Actor
from catalog.uploads import check_size, dataset_scenario, entry_key, record_entry, safe_filename
from catalog.validators import validate_upload
from infra.objectstore import ObjectStore
from infra.settings import get_settings

log = logging.getLogger("mlops.api.uploads")

# S3 parts are at least 5 MiB (but the last); 8 MiB keeps the part count of a 1 GB upload near 128 and the
# memory of an upload near 16 MiB.
PART_SIZE = 8 * 1024 * 1024
T = TypeVar("T")


class StagedUpload:
    """One upload on its way: staging file, digest, multipart upload. Blocks are handed to a worker thread
    one at a time (``hand``): while one is written, hashed and sent, the next part is received."""

    def __init__(self, store: ObjectStore, key: str) -> None:
        self.store = store
        self.key = key
        fd, name = tempfile.mkstemp(prefix="mlops-upload-")
        self.path = Path(name)
        self._file = os.fdopen(fd, "wb")
        self.digest = hashlib.sha256()
        self.size = 0
        self.upload_id: str | None = None
        self.etags: list[str] = []
        self._inflight: asyncio.Future[None] | None = None

    # -- worker side -----------------------------------------------------------------------------------
    def _store_block(self, block: bytes, send: bool) -> None:
        self._file.write(block)
        self.digest.update(block)
        if send:
            if self.upload_id is None:
                self.upload_id = self.store.start_upload(self.key)
            self.etags.append(self.store.upload_part(self.key, self.upload_id, len(self.etags) + 1, block))

    # -- request side ----------------------------------------------------------------------------------
    async def hand(self, block: bytes, *, send: bool) -> None:
        """Queue ``block`` once the previous one is done (its failure is raised here)."""
        await self.drain()
        loop = asyncio.get_running_loop()
        self._inflight = loop.run_in_executor(None, self._store_block, block, send)

    async def drain(self) -> None:
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            await inflight

    def close_file(self) -> None:
        if not self._file.closed:
            self._file.close()

    def finish_store(self, content_type: str) -> None:
        """Make the validated upload the object at ``key``: complete the parts, or put a body that never
        filled one."""
        if self.upload_id is not None:
            self.store.complete_upload(self.key, self.upload_id, self.etags)
        else:
            self.store.put_file(self.key, self.path, content_type=content_type)

    def discard(self) -> None:
        """Best effort: abort the multipart upload (its parts are freed, no object appears)."""
        if self.upload_id is not None:
            try:
                self.store.abort_upload(self.key, self.upload_id)
            except Exception:  # the upload already failed; that error is the one reported
                log.warning("could not abort the multipart upload of %s", self.key, exc_info=True)

    def remove_file(self) -> None:
        self.close_file()
        self.path.unlink(missing_ok=True)


async def _shielded(fn: Callable[..., T], *args: Any) -> T:
    """Run cleanup in a thread to its end even while the request is being cancelled (the client left)."""
    return await asyncio.shield(run_in_threadpool(fn, *args))


async def _settle(staged: StagedUpload) -> None:
    """Let the block in flight end (a part being sent must not outlive its aborted upload), then abort."""
    with contextlib.suppress(BaseException):  # whatever failed first is the error reported
        await staged.drain()
    await run_in_threadpool(staged.discard)


async def receive_entry(
    body: AsyncIterator[bytes],
    *,
    actor: Actor,
    dataset_id: int,
    filename: str,
    declared: int | None,
    is_train: bool,
    is_val: bool,
    is_test: bool,
    timings: dict[str, float] | None = None,
) -> DatasetEntry:
    """Store the streamed ``body`` as a new entry of the dataset; see the module docstring. Raises the
    catalog's errors (``UploadTooLarge`` included) with nothing left behind. ``timings`` gets the seconds
    each step took (receive: the body in and its parts stored; validate; store; record)."""
    timings = {} if timings is None else timings
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = now - clock
        clock = now

    filename = safe_filename(filename)
    if declared is not None:
        check_size(filename, declared)
    # Scoping before a byte is read: a foreign or missing dataset costs the caller nothing but its headers.
    scenario = await run_in_threadpool(lambda: dataset_scenario(actor=actor, dataset_id=dataset_id))
    store = ObjectStore.from_settings(get_settings().s3)
    staged = StagedUpload(store, entry_key(dataset_id, filename))
    stored = False
    try:
        buffer = bytearray()
        async for chunk in body:
            staged.size += len(chunk)
            check_size(filename, staged.size, complete=False)
            buffer += chunk
            if len(buffer) >= PART_SIZE:
                block, buffer = bytes(buffer), bytearray()
                await staged.hand(block, send=True)
        # Every block handed so far was a full part, sent; the rest is the last part, or the whole body.
        parts_sent = staged.size > len(buffer)
        if buffer or not parts_sent:
            await staged.hand(bytes(buffer), send=parts_sent)
        await staged.drain()
        staged.close_file()
        lap("receive")
        validated = await run_in_threadpool(validate_upload, scenario, staged.path, filename)
        lap("validate")
        await run_in_threadpool(staged.finish_store, validated.content_type)
        stored = True
        lap("store")
        entry = await run_in_threadpool(
            lambda: record_entry(
                actor=actor,
                dataset_id=dataset_id,
                filename=filename,
                key=staged.key,
                size=staged.size,
                sha256=staged.digest.hexdigest(),
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
            await asyncio.shield(_settle(staged))
        raise
    finally:
        await _shielded(staged.remove_file)
