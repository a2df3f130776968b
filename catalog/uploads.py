"""Uploading a file into a dataset: size limit, content validation, object storage, catalog row.

Order matters for consistency: validate first (nothing stored on bad input, nor over a stored-bytes quota:
``check_room``), store the object, then insert the row (which checks the quota again, under its lock); if the
insert fails the object is deleted again, so a failure leaves no orphan.

``upload_entry`` does it all for a local file (dashboard, tests). The API receives uploads as a stream and
stores them as they arrive (``api.uploads``), with the same steps from here: the size rule (``check_size``),
where the object goes (``entry_key``), the dataset's scenario read through scoping (``dataset_scenario``), the
validators (``catalog.validators.validate_upload``) and the row (``record_entry``).
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
from catalog.services import quotas
from catalog.validators import ValidatedUpload, validate_upload
from infra.objectstore import ObjectStore
from infra.settings import get_settings

_SAFE = re.compile(r"[^A-Za-z0-9._\-]+")


class UploadTooLarge(ValidationError):
    """The upload is over ``MLOPS_UPLOAD_MAX_BYTES`` (the API answers 413)."""


def safe_filename(name: str) -> str:
    base = Path(name.replace("\\", "/")).name.strip() or "upload"
    return _SAFE.sub("_", base)[:200]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def max_upload_bytes() -> int:
    return get_settings().datasets.max_bytes


def check_size(filename: str, size: int, *, complete: bool = True) -> None:
    """Refuse an upload over the limit. ``complete=False``: ``size`` is what arrived so far of a stream (or
    what its sender announced), so the message says "more than"."""
    limit = max_upload_bytes()
    if size > limit:
        amount = f"{size} bytes" if complete else f"more than {limit} bytes"
        raise UploadTooLarge(
            f"{filename}: {amount} is over the upload limit of {limit} bytes (MLOPS_UPLOAD_MAX_BYTES)"
        )


def entry_key(dataset_id: int, filename: str) -> str:
    """A new object key for an entry (entries are immutable: every upload gets its own key)."""
    return f"datasets/{dataset_id}/entries/{uuid.uuid4().hex}/{safe_filename(filename)}"


def dataset_scenario(*, actor: Actor, dataset_id: int) -> str:
    """The scenario of a dataset the actor sees (a foreign team's reads as missing)."""
    with session_scope() as session:
        return datasets_service.get_dataset(session, actor=actor, dataset_id=dataset_id).scenario


def storage_room(*, actor: Actor, dataset_id: int) -> quotas.Room:
    """The stored-bytes quotas over the dataset's team, read once (``Room.check(size)`` raises
    QuotaExceededError naming the quota and its use)."""
    with session_scope() as session:
        return quotas.storage_room(session, actor=actor, dataset_id=dataset_id)


def check_room(*, actor: Actor, dataset_id: int, size: int) -> None:
    """Refuse, before anything is stored, an upload of ``size`` bytes that would exceed a stored-bytes quota."""
    storage_room(actor=actor, dataset_id=dataset_id).check(size)


def record_entry(
    *,
    actor: Actor,
    dataset_id: int,
    filename: str,
    key: str,
    size: int,
    sha256: str,
    validated: ValidatedUpload,
    store: ObjectStore,
    is_train: bool = True,
    is_val: bool = False,
    is_test: bool = False,
) -> DatasetEntry:
    """The row of an entry whose object is stored at ``key``; if the row cannot be written the object is
    deleted again."""
    try:
        with session_scope() as session:
            entry = datasets_service.add_entry(
                session,
                actor=actor,
                dataset_id=dataset_id,
                name=safe_filename(filename),
                object_key=key,
                size_bytes=size,
                sha256=sha256,
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
    filename = filename or path.name
    size = path.stat().st_size
    check_size(filename, size)
    scenario = dataset_scenario(actor=actor, dataset_id=dataset_id)
    check_room(actor=actor, dataset_id=dataset_id, size=size)
    validated = validate_upload(scenario, path, filename)
    store = store or ObjectStore.from_settings(get_settings().s3)
    key = entry_key(dataset_id, filename)
    digest = sha256_file(path)
    store.put_file(key, path, content_type=validated.content_type)
    return record_entry(
        actor=actor,
        dataset_id=dataset_id,
        filename=filename,
        key=key,
        size=size,
        sha256=digest,
        validated=validated,
        store=store,
        is_train=is_train,
        is_val=is_val,
        is_test=is_test,
    )
