"""The object store adapter: every S3 read and write of the platform goes through ``ObjectStore``.

Built on the MinIO SDK, so it speaks to any S3 API (MinIO in production, SeaweedFS embedded). Every SDK or
connection error surfaces as ``ObjectStoreError`` with ``transient`` telling callers whether a retry may help.
Its value types, errors and the ``s3://bucket/key`` URI format live in ``infra.objectstore_types``.
"""

from __future__ import annotations

import builtins
import io
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO, TypeVar, cast

import urllib3
from minio import Minio
from minio.datatypes import Part
from minio.deleteobjects import DeleteObject
from minio.error import InvalidResponseError, S3Error, ServerError

from infra.objectstore_types import (
    IncompleteUpload,
    ObjectInfo,
    ObjectStoreError,
    format_s3_uri,
    map_error,
    parse_s3_uri,
)
from infra.settings import ObjectStoreSettings, get_settings

__all__ = [
    "IncompleteUpload",
    "ObjectInfo",
    "ObjectStore",
    "ObjectStoreError",
    "format_s3_uri",
    "parse_s3_uri",
]

T = TypeVar("T")

# Smallest part S3 accepts is 5 MiB; 16 MiB keeps the part count low for large uploads while bounding the
# memory a stream of unknown length costs (one part is buffered at a time).
DEFAULT_PART_SIZE = 16 * 1024 * 1024
_META_PREFIX = "x-amz-meta-"
_SDK_ERRORS = (S3Error, ServerError, InvalidResponseError, urllib3.exceptions.HTTPError, OSError)


class ObjectStore:
    """One S3 endpoint and a default bucket; every method takes ``bucket=`` to address another one."""

    def __init__(self, settings: ObjectStoreSettings, *, bucket: str | None = None) -> None:
        self.settings = settings
        self.bucket = bucket or settings.bucket
        timeout = urllib3.Timeout(connect=min(settings.timeout_seconds, 10.0), read=settings.timeout_seconds)
        retries = urllib3.Retry(
            total=settings.max_retries,
            backoff_factor=0.2,
            status_forcelist=[500, 502, 503, 504],
            # S3 errors carry their reason in the body; urllib3 must hand the 5xx back rather than raise.
            raise_on_status=False,
        )
        self._client = Minio(
            settings.host_port,
            access_key=settings.access_key,
            secret_key=settings.secret_key,
            secure=settings.secure,
            # An explicit region spares a GetBucketLocation round trip before every first request.
            region=settings.region,
            http_client=urllib3.PoolManager(timeout=timeout, retries=retries, maxsize=10),
        )

    @classmethod
    def from_settings(cls, settings: ObjectStoreSettings | None = None) -> ObjectStore:
        return cls(settings or get_settings().s3)

    @property
    def client(self) -> Minio:
        """The raw SDK client, for the rare call this adapter does not wrap."""
        return self._client

    def uri(self, key: str, *, bucket: str | None = None) -> str:
        return format_s3_uri(bucket or self.bucket, key)

    def _call(self, action: str, target: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except _SDK_ERRORS as exc:
            raise map_error(action, target, exc) from exc

    # -- buckets -------------------------------------------------------------------------------------------

    def ensure_bucket(self, bucket: str | None = None) -> None:
        name = bucket or self.bucket

        def run() -> None:
            if self._client.bucket_exists(name):
                return
            try:
                self._client.make_bucket(name)
            except S3Error as exc:
                # Another process created it between our check and our create: that is the goal reached.
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

        self._call("create bucket", name, run)

    # -- writes --------------------------------------------------------------------------------------------

    def put_bytes(
        self,
        key: str,
        data: bytes,
        *,
        bucket: str | None = None,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Store ``data`` at ``key``; returns the object's ``s3://`` URI."""
        name = bucket or self.bucket
        self._call(
            "put",
            format_s3_uri(name, key),
            lambda: self._client.put_object(
                name, key, io.BytesIO(data), len(data), content_type=content_type, metadata=_meta(metadata)
            ),
        )
        return format_s3_uri(name, key)

    def put_file(
        self,
        key: str,
        path: str | Path,
        *,
        bucket: str | None = None,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> str:
        name = bucket or self.bucket
        self._call(
            "upload",
            format_s3_uri(name, key),
            lambda: self._client.fput_object(
                name,
                key,
                str(path),
                content_type=content_type,
                metadata=_meta(metadata),
                part_size=DEFAULT_PART_SIZE,
            ),
        )
        return format_s3_uri(name, key)

    def put_stream(
        self,
        key: str,
        stream: BinaryIO,
        *,
        length: int = -1,
        bucket: str | None = None,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> str:
        """Upload from a readable stream. ``length=-1`` (unknown) uploads in parts of ``part_size`` bytes, so
        memory stays bounded by one part whatever the stream's size."""
        name = bucket or self.bucket
        self._call(
            "upload",
            format_s3_uri(name, key),
            lambda: self._client.put_object(
                name,
                key,
                stream,
                length,
                content_type=content_type,
                metadata=_meta(metadata),
                part_size=part_size if length < 0 else 0,
            ),
        )
        return format_s3_uri(name, key)

    # -- multipart uploads fed by the caller --------------------------------------------------------------
    # For bodies that arrive in pieces and must not appear at ``key`` until the caller decides (an upload is
    # validated first): nothing is visible before ``complete_upload``; ``abort_upload`` frees the parts.

    def start_upload(
        self, key: str, *, bucket: str | None = None, content_type: str = "application/octet-stream"
    ) -> str:
        """Begin a multipart upload; returns its upload id."""
        name = bucket or self.bucket
        return self._call(
            "start upload",
            format_s3_uri(name, key),
            lambda: self._client._create_multipart_upload(name, key, {"Content-Type": content_type}),
        )

    def upload_part(
        self, key: str, upload_id: str, number: int, data: bytes, *, bucket: str | None = None
    ) -> str:
        """Upload part ``number`` (1-based; every part but the last at least 5 MiB); returns its ETag."""
        name = bucket or self.bucket
        return self._call(
            "upload part",
            format_s3_uri(name, key),
            lambda: self._client._upload_part(name, key, data, None, upload_id, number),
        )

    def complete_upload(
        self, key: str, upload_id: str, etags: builtins.list[str], *, bucket: str | None = None
    ) -> None:
        """Join the parts (their ETags in part order) into the object at ``key``."""
        name = bucket or self.bucket
        parts = [Part(number, etag) for number, etag in enumerate(etags, start=1)]
        self._call(
            "complete upload",
            format_s3_uri(name, key),
            lambda: self._client._complete_multipart_upload(name, key, upload_id, parts),
        )

    # -- reads ---------------------------------------------------------------------------------------------

    @contextmanager
    def get_stream(self, key: str, *, bucket: str | None = None) -> Iterator[BinaryIO]:
        """The object's body as a readable file-like object; the connection is released on exit."""
        name = bucket or self.bucket
        response = self._call("get", format_s3_uri(name, key), lambda: self._client.get_object(name, key))
        try:
            yield cast(BinaryIO, _ErrorMappingReader(response, format_s3_uri(name, key)))
        finally:
            response.close()
            response.release_conn()

    def get_bytes(self, key: str, *, bucket: str | None = None) -> bytes:
        with self.get_stream(key, bucket=bucket) as body:
            return body.read()

    def download_file(self, key: str, path: str | Path, *, bucket: str | None = None) -> Path:
        name = bucket or self.bucket
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        self._call(
            "download", format_s3_uri(name, key), lambda: self._client.fget_object(name, key, str(target))
        )
        return target

    def stat(self, key: str, *, bucket: str | None = None) -> ObjectInfo:
        name = bucket or self.bucket
        obj = self._call("stat", format_s3_uri(name, key), lambda: self._client.stat_object(name, key))
        headers = obj.metadata or {}
        user_meta = {
            str(k).lower()[len(_META_PREFIX) :]: str(v)
            for k, v in headers.items()
            if str(k).lower().startswith(_META_PREFIX)
        }
        return ObjectInfo(
            bucket=name,
            key=key,
            size=int(obj.size or 0),
            etag=(obj.etag or "").strip('"'),
            last_modified=obj.last_modified,
            content_type=obj.content_type,
            metadata=user_meta,
        )

    def exists(self, key: str, *, bucket: str | None = None) -> bool:
        try:
            self.stat(key, bucket=bucket)
        except ObjectStoreError as exc:
            if exc.not_found:
                return False
            raise
        return True

    def presigned_get_url(
        self, key: str, *, bucket: str | None = None, expiry_seconds: int | None = None
    ) -> str:
        name = bucket or self.bucket
        expires = timedelta(seconds=expiry_seconds or self.settings.presign_expiry_seconds)
        return self._call(
            "presign", format_s3_uri(name, key), lambda: self._client.presigned_get_object(name, key, expires)
        )

    # -- incomplete multipart uploads ----------------------------------------------------------------------

    def incomplete_uploads(
        self, prefix: str = "", *, bucket: str | None = None, limit: int = 1000
    ) -> builtins.list[IncompleteUpload]:
        """Multipart uploads under ``prefix`` not completed nor aborted (ListMultipartUploads), at most ``limit``.

        One request: SeaweedFS 4.48 answers a truncated listing without usable continuation markers (the next
        page came back empty or repeated the first), so a caller that must see everything aborts what it can
        and lists again (see ``abort_incomplete_uploads``).
        """
        name = bucket or self.bucket
        result = self._call(
            "list uploads",
            format_s3_uri(name, prefix),
            lambda: self._client._list_multipart_uploads(name, prefix=prefix, max_uploads=limit),
        )
        return [
            IncompleteUpload(
                bucket=name, key=u.object_name, upload_id=u.upload_id, initiated=u.initiated_time
            )
            for u in result.uploads
            if u.upload_id
        ]

    def abort_upload(self, key: str, upload_id: str, *, bucket: str | None = None) -> None:
        """Abort one multipart upload, freeing its parts; one already gone (NoSuchUpload) is not an error."""
        name = bucket or self.bucket
        try:
            self._call(
                "abort upload",
                format_s3_uri(name, key),
                lambda: self._client._abort_multipart_upload(name, key, upload_id),
            )
        except ObjectStoreError as exc:
            if exc.code != "NoSuchUpload":
                raise

    def abort_incomplete_uploads(self, prefix: str, *, bucket: str | None = None, rounds: int = 20) -> int:
        """Abort every incomplete upload under ``prefix`` (not empty); returns how many were aborted."""
        if not prefix:
            raise ValueError("refusing to abort uploads with an empty prefix (that is the whole bucket)")
        aborted = 0
        for _ in range(rounds):
            batch = self.incomplete_uploads(prefix, bucket=bucket)
            for upload in batch:
                self.abort_upload(upload.key, upload.upload_id, bucket=upload.bucket)
            aborted += len(batch)
            if not batch:
                break
        return aborted

    # -- deletes -------------------------------------------------------------------------------------------

    def delete(self, key: str, *, bucket: str | None = None) -> None:
        """Delete one object; deleting a missing object is not an error (S3 semantics)."""
        name = bucket or self.bucket
        self._call("delete", format_s3_uri(name, key), lambda: self._client.remove_object(name, key))

    def delete_many(self, keys: Iterable[str], *, bucket: str | None = None) -> int:
        """Delete ``keys`` in bulk requests; returns how many were asked for. Raises on the first failure."""
        name = bucket or self.bucket
        wanted = [DeleteObject(k) for k in keys]
        if not wanted:
            return 0

        def run() -> None:
            # remove_objects is lazy: nothing is deleted until its error iterator is consumed.
            errors = builtins.list(self._client.remove_objects(name, wanted))
            if errors:
                first = errors[0]
                raise ObjectStoreError(
                    f"delete {format_s3_uri(name, first.name)}: {first.code}: {first.message} "
                    f"({len(errors)} of {len(wanted)} failed)",
                    transient=False,
                    code=first.code,
                )

        self._call("delete", f"{len(wanted)} objects in {name}", run)
        return len(wanted)

    def delete_prefix(self, prefix: str, *, bucket: str | None = None) -> int:
        """Delete every object under ``prefix`` (which must not be empty); returns the number deleted."""
        if not prefix:
            raise ValueError("refusing to delete with an empty prefix (that is the whole bucket)")
        keys = [info.key for info in self.list(prefix, bucket=bucket)]
        return self.delete_many(keys, bucket=bucket)

    # Defined last: inside the class body the name ``list`` means this method from here on.
    def list(
        self, prefix: str = "", *, bucket: str | None = None, recursive: bool = True
    ) -> Iterator[ObjectInfo]:
        """Objects under ``prefix`` (lazily, in key order). Non-recursive listings skip "directories"."""
        name = bucket or self.bucket
        target = format_s3_uri(name, prefix)
        objects = self._call(
            "list", target, lambda: iter(self._client.list_objects(name, prefix=prefix, recursive=recursive))
        )
        while True:
            obj = self._call("list", target, lambda: next(objects, None))
            if obj is None:
                return
            if obj.is_dir or obj.object_name is None:
                continue
            yield ObjectInfo(
                bucket=name,
                key=obj.object_name,
                size=int(obj.size or 0),
                etag=(obj.etag or "").strip('"'),
                last_modified=obj.last_modified,
            )


class _ErrorMappingReader(io.RawIOBase):
    """Wraps a streaming response so a connection lost mid-read is an ``ObjectStoreError`` too."""

    def __init__(self, response: urllib3.BaseHTTPResponse, target: str) -> None:
        self._response = response
        self._target = target

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self._response.read(len(buffer))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise map_error("read", self._target, exc) from exc
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        try:
            if size is None or size < 0:
                return self._response.read()
            return self._response.read(size)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise map_error("read", self._target, exc) from exc


def _meta(metadata: dict[str, str] | None) -> dict[str, str | builtins.list[str] | tuple[str]] | None:
    return dict(metadata) if metadata else None
