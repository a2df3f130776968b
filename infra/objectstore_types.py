"""What the object store adapter (``infra.objectstore``) hands out: object and upload records, its one error
type, and the ``s3://bucket/key`` URI format used in job configs and release records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from minio.error import InvalidResponseError, S3Error, ServerError

_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "NoSuchObject", "ResourceNotFound"})


class ObjectStoreError(Exception):
    """An S3 operation failed. ``transient``: the server was unreachable or answered 5xx (retry may help)."""

    def __init__(self, message: str, transient: bool, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.code = code

    @property
    def not_found(self) -> bool:
        return self.code in _NOT_FOUND_CODES


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str
    last_modified: datetime | None = None
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return format_s3_uri(self.bucket, self.key)


@dataclass(frozen=True)
class IncompleteUpload:
    """A multipart upload started and neither completed nor aborted: its parts take space but no object shows."""

    bucket: str
    key: str
    upload_id: str
    initiated: datetime | None = None


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` -> ``("bucket", "some/key")``; raises ``ValueError`` on anything else."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key:
        raise ValueError(f"s3 URI needs a bucket and a key: {uri!r}")
    return bucket, key


def format_s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key.lstrip('/')}"


def map_error(action: str, target: str, exc: Exception) -> ObjectStoreError:
    if isinstance(exc, S3Error):
        return ObjectStoreError(
            f"{action} {target}: {exc.code}: {exc.message}", transient=False, code=exc.code
        )
    if isinstance(exc, ServerError):
        return ObjectStoreError(f"{action} {target}: server error {exc.status_code}", transient=True)
    if isinstance(exc, InvalidResponseError):
        return ObjectStoreError(f"{action} {target}: invalid response: {exc}", transient=True)
    return ObjectStoreError(f"{action} {target}: cannot reach the object store: {exc}", transient=True)
