"""Dataset flows: ``publish-release`` (pending|failed → publishing → published | failed)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from catalog.db import session_scope
from catalog.errors import ConflictError
from catalog.models import ReleaseStatus
from catalog.scoping import SYSTEM
from catalog.services import datasets as datasets_service
from tasks.datasets import build_release_zip


@flow(name="publish-release")
def publish_release(release_id: int) -> dict[str, Any]:
    """Build the release's zip. Safe to re-run: a published release is returned as is."""
    logger = get_run_logger()
    ident = flow_run.get_id()
    with session_scope() as session:
        claimed = datasets_service.claim_publish(session, actor=SYSTEM, release_id=release_id,
                                                 flow_run_id=str(ident) if ident else None)
        release = datasets_service.get_release(session, actor=SYSTEM, release_id=release_id)
    if not claimed:
        if release.status in (ReleaseStatus.PUBLISHED, ReleaseStatus.ARCHIVED):
            return {"release_id": release_id, "status": release.status, "sha256": release.sha256}
        raise ConflictError(f"release {release.version!r} is {release.status}; it cannot be published now")
    try:
        built = build_release_zip(release_id)
    except Exception as exc:
        logger.error("publishing release %s failed: %s", release_id, exc)
        with session_scope() as session:
            datasets_service.mark_failed(session, release_id=release_id, error=f"{type(exc).__name__}: {exc}")
        raise
    with session_scope() as session:
        datasets_service.mark_published(session, release_id=release_id, **built)
    logger.info("release %s published: %s bytes, sha256 %s", release_id, built["size_bytes"], built["sha256"])
    return {"release_id": release_id, "status": ReleaseStatus.PUBLISHED.value, **built}
