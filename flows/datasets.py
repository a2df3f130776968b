"""Dataset flows: ``publish-release`` (pending|failed → publishing → published | failed) and
``reconcile-releases`` (releases and uploads a killed publish left behind; see ``tasks.maintenance``).

Consistency on failure: the zip streams into S3 as a multipart upload that is aborted when anything fails,
so a failed build leaves no object; an object completed before a later step failed is deleted (best effort:
if S3 itself is down the object cannot exist, since completing it needed S3). The release is then marked
failed with the error, and can be published again.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from catalog.db import session_scope
from catalog.errors import ConflictError
from catalog.models import ReleaseStatus
from catalog.scoping import SYSTEM
from catalog.services import releases as releases_service
from tasks.datasets import build_release_zip, discard_release_object, release_key
from tasks.maintenance import reconcile_releases_once


def _fail(release_id: int, key: str, exc: BaseException) -> None:
    discard_release_object(key)
    with session_scope() as session:
        releases_service.mark_failed(session, release_id=release_id, error=f"{type(exc).__name__}: {exc}")


@flow(name="publish-release")
def publish_release(release_id: int) -> dict[str, Any]:
    """Build the release's zip. Safe to re-run: a published release is returned as is."""
    logger = get_run_logger()
    ident = flow_run.get_id()
    with session_scope() as session:
        claimed = releases_service.claim_publish(
            session, actor=SYSTEM, release_id=release_id, flow_run_id=str(ident) if ident else None
        )
        release = releases_service.get_release(session, actor=SYSTEM, release_id=release_id)
    if not claimed:
        if release.status in (ReleaseStatus.PUBLISHED, ReleaseStatus.ARCHIVED):
            return {"release_id": release_id, "status": release.status, "sha256": release.sha256}
        raise ConflictError(f"release {release.version!r} is {release.status}; it cannot be published now")
    key = release_key(release)
    try:
        built = build_release_zip(release_id)
        with session_scope() as session:
            if not releases_service.mark_published(session, release_id=release_id, **built):
                raise ConflictError(f"release {release.version!r} left 'publishing' while its zip was built")
    except Exception as exc:
        logger.error("publishing release %s failed: %s", release_id, exc)
        _fail(release_id, key, exc)
        raise
    logger.info("release %s published: %s bytes, sha256 %s", release_id, built["size_bytes"], built["sha256"])
    return {"release_id": release_id, "status": ReleaseStatus.PUBLISHED.value, **built}


@flow(name="reconcile-releases")
def reconcile_releases() -> dict[str, Any]:
    """Mark failed the releases left PUBLISHING by a flow run that is no longer live, and abort the incomplete
    multipart uploads under ``releases/`` that no live publish owns. Scheduled, and run when the runner starts."""
    report = reconcile_releases_once()
    if report["failed_releases"] or report["aborted_uploads"]:
        get_run_logger().warning(
            "interrupted releases marked failed: %s; incomplete uploads aborted: %d",
            report["failed_releases"],
            report["aborted_uploads"],
        )
    return report


def reconcile_releases_at_startup() -> None:
    """Called once by the flow runner (flows/serve_all.py) before it takes runs. Never fatal: if S3 or the
    catalog is not reachable yet, the scheduled ``reconcile-releases`` does the work later."""
    try:
        reconcile_releases()
    except Exception as exc:  # noqa: BLE001 - the runner must start anyway; the schedule retries
        logging.getLogger(__name__).warning(
            "reconciling releases at startup failed: %s: %s", type(exc).__name__, exc
        )
