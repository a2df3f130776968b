"""Object-store access for containers: the minio client built from the environment, and ``s3://`` URIs.

Environment (set by the platform in every training container):
``MLOPS_S3_ENDPOINT`` (full URL with scheme, e.g. ``http://127.0.0.1:8333``), ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION`` (optional).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

from minio import Minio


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into ``(bucket, key)``; raise ValueError on anything else."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def s3_client_from_env() -> Minio:
    """A minio client for ``MLOPS_S3_ENDPOINT`` with the standard AWS credential variables."""
    endpoint = os.environ.get("MLOPS_S3_ENDPOINT", "").strip()
    if not endpoint:
        raise RuntimeError("MLOPS_S3_ENDPOINT is not set (full URL with scheme, e.g. http://host:8333)")
    parsed = urlparse(endpoint)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise RuntimeError(f"MLOPS_S3_ENDPOINT must be a URL with http(s) scheme, got {endpoint!r}")
    return Minio(
        parsed.netloc,
        access_key=os.environ.get("AWS_ACCESS_KEY_ID"),
        secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
        region=os.environ.get("AWS_DEFAULT_REGION") or None,
        secure=parsed.scheme == "https",
    )


def read_bytes(uri: str) -> bytes:
    """The content of an ``s3://`` URI, a ``file://`` URI or a local path."""
    if uri.startswith("s3://"):
        bucket, key = parse_s3_uri(uri)
        response = s3_client_from_env().get_object(bucket, key)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()
    return Path(_local_path(uri)).read_bytes()


def write_bytes(uri: str, data: bytes, content_type: str = "application/octet-stream") -> None:
    """Store ``data`` at an ``s3://`` URI, a ``file://`` URI or a local path."""
    if uri.startswith("s3://"):
        import io

        bucket, key = parse_s3_uri(uri)
        s3_client_from_env().put_object(bucket, key, io.BytesIO(data), len(data), content_type=content_type)
        return
    path = Path(_local_path(uri))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def download(uri: str, dest: Path) -> Path:
    """Copy an ``s3://`` URI or a local path to ``dest`` (streamed, so large releases fit in memory)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if uri.startswith("s3://"):
        bucket, key = parse_s3_uri(uri)
        s3_client_from_env().fget_object(bucket, key, str(dest))
    else:
        shutil.copyfile(_local_path(uri), dest)
    return dest


def _local_path(uri: str) -> str:
    return urlparse(uri).path if uri.startswith("file://") else uri
