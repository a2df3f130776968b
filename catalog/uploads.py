"""Uploading a file into a dataset: size limit, content validation, object storage, catalog row.

Order matters for consistency: validate first (nothing stored on bad input), store the object, then insert
the row; if the insert fails the object is deleted again, so a failure leaves no orphan.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from pathlib import Path

from catalog.db import session_scope
from catalog.errors import ValidationError
from catalog.models import DatasetEntry
from catalog.scoping import Actor
from catalog.services import datasets as datasets_service
from catalog.validators import validate_upload
from infra.objectstore import ObjectStore
from infra.settings import get_settings

_SAFE = re.compile(r"[^A-Za-z0-9._\-]+")


def safe_filename(name: str) -> str:
    base = Path(name.replace("\\", "/")).name.strip() or "upload"
    return _SAFE.sub("_", base)[:200]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def upload_entry(
    *,
    actor: Actor,
    dataset_id: int,
    path: Path,
    filename: str | None = None,
    is_train: bool = True,
    is_val: bool = False,
    is_test: bool = False,
    store: ObjectStore | None = None,
) -> DatasetEntry:
    settings = get_settings()
    filename = filename or path.name
    size = path.stat().st_size
    limit = settings.datasets.max_bytes
    if size > limit:
        raise ValidationError(
            f"{filename}: {size} bytes is over the upload limit of {limit} bytes (MLOPS_UPLOAD_MAX_BYTES)"
        )
    with session_scope() as session:
        dataset = datasets_service.get_dataset(session, actor=actor, dataset_id=dataset_id)
        scenario = dataset.scenario
    validated = validate_upload(scenario, path, filename)
    store = store or ObjectStore.from_settings(settings.s3)
    key = f"datasets/{dataset_id}/entries/{uuid.uuid4().hex}/{safe_filename(filename)}"
    digest = sha256_file(path)
    store.put_file(key, path, content_type=validated.content_type)
    try:
        with session_scope() as session:
            entry = datasets_service.add_entry(
                session,
                actor=actor,
                dataset_id=dataset_id,
                name=safe_filename(filename),
                object_key=key,
                size_bytes=size,
                sha256=digest,
                content_type=validated.content_type,
                summary=validated.summary,
                is_train=is_train,
                is_val=is_val,
                is_test=is_test,
            )
    except BaseException:
        store.delete(key)
        raise
    return entry
