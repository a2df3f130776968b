"""Downloads streamed from the object store: an entry's file or a release's zip, passed on a block at a time
(``tasks.datasets.verified_blocks``: checked against the size and sha256 the catalog recorded, the last block
held back until they match), with ``Content-Length``, ``Content-Disposition`` and ``X-Checksum-Sha256`` so a
client can check what it received too."""

from __future__ import annotations

from typing import Any

from fastapi.responses import StreamingResponse

from api.errors import ApiError
from catalog.uploads import safe_filename
from infra.objectstore_types import ObjectStoreError
from mlops_lite.schemas.common import ErrorBody
from mlops_lite.schemas.datasets import SHA256_HEADER
from tasks.datasets import verified_blocks


def download_responses(media_type: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI answers of a download: the file as ``media_type``, or the usual errors."""
    return {
        200: {
            "description": "The file, streamed.",
            "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
        },
        404: {"model": ErrorBody, "description": "No such resource (or another team's)."},
        503: {"model": ErrorBody, "description": "The object store did not answer."},
    }


def streamed(key: str, *, size: int, sha256: str, filename: str, media_type: str) -> StreamingResponse:
    """A streamed answer of the object at ``key``. The object is opened before the answer starts, so a store
    that fails is a JSON error rather than a cut-off body."""
    try:
        blocks = verified_blocks(key, size=size, sha256=sha256)
    except ObjectStoreError as exc:
        if exc.not_found:  # the catalog names an object the store does not have: the platform's fault
            raise ApiError(500, f"the stored file is missing from the object store ({key})") from None
        raise ApiError(503, f"the object store failed: {exc}", "unavailable") from None
    headers = {
        "Content-Length": str(size),
        # Made of [A-Za-z0-9._-] only: nothing to quote or escape.
        "Content-Disposition": f'attachment; filename="{safe_filename(filename)}"',
        SHA256_HEADER: sha256,
    }
    return StreamingResponse(blocks, media_type=media_type, headers=headers)
