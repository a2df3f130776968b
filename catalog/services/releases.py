"""Dataset releases: creating one (it freezes its entries and their splits), reading and paging them, the
checks a download or a training job makes, and the release status machine.

Status changes are conditional updates (see ``services.common.transition``):
pending|failed → publishing → published | failed; published ↔ archived.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, func, select

from catalog.errors import ConflictError, NotFoundError, ValidationError, quote
from catalog.models import Dataset, DatasetRelease, ReleaseStatus, TrainJob
from catalog.models.base import utcnow
from catalog.scenarios import parse_scenario
from catalog.scoping import Actor, get_scoped, requires, scoped, team_filter
from catalog.services import quotas
from catalog.services.audit import audited
from catalog.services.common import page, transition
from catalog.services.datasets import get_dataset, list_entries
from mlops_lite.schemas.common import VERSION_PATTERN

SPLITS = ("train", "val", "test")
_VERSION_RE = re.compile(VERSION_PATTERN)


def _next_version(session: Session, dataset_id: int) -> str:
    count = session.exec(select(func.count()).where(DatasetRelease.dataset_id == dataset_id)).one()
    n = int(count) + 1
    taken = set(
        session.exec(select(DatasetRelease.version).where(DatasetRelease.dataset_id == dataset_id)).all()
    )
    while f"v{n}" in taken:
        n += 1
    return f"v{n}"


@requires("releases:publish")
def create_release(
    session: Session,
    *,
    actor: Actor,
    dataset_id: int,
    version: str | None = None,
    entry_ids: list[int] | None = None,
    description: str = "",
) -> DatasetRelease:
    """A pending release freezing the chosen entries (default: every entry with a split flag)."""
    dataset = get_dataset(session, actor=actor, dataset_id=dataset_id)
    with audited(
        session,
        actor=actor,
        action="release.create",
        resource_type="dataset_release",
        team_id=dataset.team_id,
    ) as info:
        entries = list_entries(session, actor=actor, dataset_id=dataset_id)
        by_id = {e.id: e for e in entries}
        if entry_ids is not None:
            unknown = [i for i in entry_ids if i not in by_id]
            if unknown:
                raise ValidationError(f"entries {quote(unknown)} do not belong to dataset {dataset.name!r}")
            chosen = [by_id[i] for i in dict.fromkeys(entry_ids)]
        else:
            chosen = [e for e in entries if e.is_train or e.is_val or e.is_test]
        frozen = []
        for e in chosen:
            splits = [s for s, flag in zip(SPLITS, (e.is_train, e.is_val, e.is_test), strict=True) if flag]
            if not splits:
                raise ValidationError(
                    f"entry {e.name!r} (id {e.id}) is in no split: flag it train, val or test"
                )
            frozen.append(
                {
                    "entry_id": e.id,
                    "name": e.name,
                    "object_key": e.object_key,
                    "sha256": e.sha256,
                    "size_bytes": e.size_bytes,
                    "splits": splits,
                    "summary": e.summary,
                }
            )
        if not any("train" in f["splits"] for f in frozen):
            raise ValidationError("a release needs at least one entry flagged train")
        # Its zip will take about its entries' total: refused now rather than after the build.
        quotas.require_storage(session, team_id=dataset.team_id, size=quotas.frozen_size(frozen), lock=False)
        if version is None or not version.strip():
            version = _next_version(session, dataset_id)
        version = version.strip()
        if not _VERSION_RE.match(version):
            raise ValidationError(
                f"version {quote(version)} is invalid: letters, digits, '.', '_', '-' (max 50)"
            )
        taken = session.exec(
            select(DatasetRelease.id).where(
                DatasetRelease.dataset_id == dataset_id, DatasetRelease.version == version
            )
        ).first()
        if taken is not None:
            raise ConflictError(f"dataset {dataset.name!r} already has a release {version!r}")
        release = DatasetRelease(
            dataset_id=dataset_id,
            version=version,
            description=description,
            entries=frozen,
            created_by=actor.user_id,
        )
        session.add(release)
        session.flush()
        info["resource_id"] = release.id
        info["detail"] = {"version": version, "entries": [f["entry_id"] for f in frozen]}
    return release


@requires("datasets:read")
def get_release(session: Session, *, actor: Actor, release_id: int) -> DatasetRelease:
    return get_scoped(session, DatasetRelease, release_id, actor, kind="dataset release")


@requires("datasets:read")
def list_releases(session: Session, *, actor: Actor, dataset_id: int) -> list[DatasetRelease]:
    get_dataset(session, actor=actor, dataset_id=dataset_id)
    stmt = scoped(select(DatasetRelease), DatasetRelease, actor).where(
        DatasetRelease.dataset_id == dataset_id
    )
    return list(session.exec(stmt.order_by(col(DatasetRelease.id).desc())).all())


@requires("datasets:read")
def page_releases(
    session: Session,
    *,
    actor: Actor,
    dataset_id: int | None = None,
    scenario: str | None = None,
    team_id: int | None = None,
    include_children: bool = False,
    status: str | None = None,
    search: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[int, list[DatasetRelease]]:
    """One page of releases, newest first: of one dataset, or of every dataset the actor sees (optionally of
    one scenario, or of one team: with ``include_children`` its subtree); ``search`` matches the version or
    the dataset's name."""
    if dataset_id is not None:
        get_dataset(session, actor=actor, dataset_id=dataset_id)
    stmt = scoped(select(DatasetRelease), DatasetRelease, actor)
    if dataset_id is not None:
        stmt = stmt.where(DatasetRelease.dataset_id == dataset_id)
    # Conditions on the dataset are subqueries: scoped() joins Dataset for some actors and not for others.
    owners = select(Dataset.id)
    if scenario:
        owners = owners.where(Dataset.scenario == parse_scenario(scenario).value)
    teams = team_filter(actor, team_id, include_children)
    if teams is not None:
        owners = owners.where(col(Dataset.team_id).in_(teams))
    if scenario or teams is not None:
        stmt = stmt.where(col(DatasetRelease.dataset_id).in_(owners))
    if status:
        stmt = stmt.where(DatasetRelease.status == status)
    if search:
        named = select(Dataset.id).where(col(Dataset.name).icontains(search))
        stmt = stmt.where(
            or_(col(DatasetRelease.version).icontains(search), col(DatasetRelease.dataset_id).in_(named))
        )
    return page(session, stmt, offset=offset, limit=limit, order_by=col(DatasetRelease.id).desc())


@requires("releases:publish")
def claim_publish(session: Session, *, actor: Actor, release_id: int, flow_run_id: str | None = None) -> bool:
    """pending|failed → publishing. False when another publish holds it or it is already published. A zip
    that would exceed a stored-bytes quota (its entries' total) is refused (QuotaExceededError) before it is
    built; a publishing release counts that total until its zip's size is known (``services.quotas``)."""
    release = get_release(session, actor=actor, release_id=release_id)
    if release.status in (ReleaseStatus.PENDING, ReleaseStatus.FAILED):
        dataset = session.get(Dataset, release.dataset_id)
        assert dataset is not None
        quotas.require_storage(session, team_id=dataset.team_id, size=quotas.frozen_size(release.entries))
    return transition(
        session,
        DatasetRelease,
        release_id,
        from_statuses=(ReleaseStatus.PENDING, ReleaseStatus.FAILED),
        to_status=ReleaseStatus.PUBLISHING,
        values={"error": None, "flow_run_id": flow_run_id},
    )


@requires("releases:publish")
def request_publish(session: Session, *, actor: Actor, release_id: int) -> DatasetRelease:
    """What every edge checks before launching the publish-release flow (which claims as the system): the caller
    may publish the release (``releases:publish`` on its team) and it is pending or failed (ConflictError)."""
    release = get_release(session, actor=actor, release_id=release_id)
    if release.status in (ReleaseStatus.PUBLISHING, ReleaseStatus.PUBLISHED, ReleaseStatus.ARCHIVED):
        held = f", flow run {release.flow_run_id}" if release.flow_run_id else ""
        raise ConflictError(f"release {release.version!r} is already {release.status}{held}")
    return release


def mark_published(
    session: Session,
    *,
    release_id: int,
    object_key: str,
    size_bytes: int,
    sha256: str,
    split_counts: dict[str, Any],
) -> bool:
    return transition(
        session,
        DatasetRelease,
        release_id,
        from_statuses=(ReleaseStatus.PUBLISHING,),
        to_status=ReleaseStatus.PUBLISHED,
        values={
            "object_key": object_key,
            "size_bytes": size_bytes,
            "sha256": sha256,
            "split_counts": split_counts,
            "published_at": utcnow(),
            "error": None,
        },
    )


def mark_failed(session: Session, *, release_id: int, error: str) -> bool:
    return transition(
        session,
        DatasetRelease,
        release_id,
        from_statuses=(ReleaseStatus.PUBLISHING,),
        to_status=ReleaseStatus.FAILED,
        values={"error": error[:4000]},
    )


def publishing_releases(session: Session) -> list[DatasetRelease]:
    """Every release in PUBLISHING, of every team (the reconciliation's view; see ``tasks.maintenance``)."""
    stmt = select(DatasetRelease).where(DatasetRelease.status == ReleaseStatus.PUBLISHING)
    return list(session.exec(stmt.order_by(col(DatasetRelease.id))).all())


def fail_interrupted(session: Session, *, release_id: int, flow_run_id: str | None, error: str) -> bool:
    """publishing → failed, only while the release is still held by ``flow_run_id`` (the dead flow run seen):
    a publish that claimed it again meanwhile holds it under another id and is left alone."""
    held_by = (
        col(DatasetRelease.flow_run_id).is_(None)
        if flow_run_id is None
        else DatasetRelease.flow_run_id == flow_run_id
    )
    return transition(
        session,
        DatasetRelease,
        release_id,
        from_statuses=(ReleaseStatus.PUBLISHING,),
        to_status=ReleaseStatus.FAILED,
        values={"error": error[:4000]},
        where=(held_by,),
    )


def _archive_transition(session: Session, *, actor: Actor, release_id: int, archive: bool) -> DatasetRelease:
    release = get_release(session, actor=actor, release_id=release_id)
    dataset = session.get(Dataset, release.dataset_id)
    action = "release.archive" if archive else "release.restore"
    with audited(
        session,
        actor=actor,
        action=action,
        resource_type="dataset_release",
        team_id=dataset.team_id if dataset else None,
    ) as info:
        info["resource_id"] = release_id
        src, dst = (
            (ReleaseStatus.PUBLISHED, ReleaseStatus.ARCHIVED)
            if archive
            else (ReleaseStatus.ARCHIVED, ReleaseStatus.PUBLISHED)
        )
        if not transition(session, DatasetRelease, release_id, from_statuses=(src,), to_status=dst):
            raise ConflictError(f"release {release.version!r} is {release.status}, not {src}")
    session.refresh(release)
    return release


@requires("releases:publish")
def archive_release(session: Session, *, actor: Actor, release_id: int) -> DatasetRelease:
    return _archive_transition(session, actor=actor, release_id=release_id, archive=True)


@requires("releases:publish")
def restore_release(session: Session, *, actor: Actor, release_id: int) -> DatasetRelease:
    return _archive_transition(session, actor=actor, release_id=release_id, archive=False)


@requires("datasets:read")
def downloadable_release(session: Session, *, actor: Actor, release_id: int) -> DatasetRelease:
    """A release whose zip may be downloaded: published or archived (archiving hides it from new training
    jobs, not from its owners)."""
    release = get_release(session, actor=actor, release_id=release_id)
    if release.status not in (ReleaseStatus.PUBLISHED, ReleaseStatus.ARCHIVED) or not release.object_key:
        raise ValidationError(
            f"release {release.version!r} is {release.status}; only published releases download"
        )
    return release


def releases_used_by_jobs(session: Session, *, release_id: int) -> list[str]:
    return list(session.exec(select(TrainJob.name).where(TrainJob.release_id == release_id)).all())


@requires("datasets:read")
def require_usable_release(
    session: Session, *, actor: Actor, release_id: int, team_id: int, scenario: str
) -> DatasetRelease:
    """A release a training job may bind: published, not archived, same team and scenario."""
    try:
        release = get_release(session, actor=actor, release_id=release_id)
    except NotFoundError:
        raise NotFoundError("dataset release", release_id) from None
    dataset = session.get(Dataset, release.dataset_id)
    assert dataset is not None
    if dataset.team_id != team_id:
        # Same words as a missing release: the job's team may not learn about other teams' data.
        raise NotFoundError("dataset release", release_id)
    if dataset.scenario != scenario:
        raise ValidationError(f"release {release.version!r} is a {dataset.scenario} dataset, not {scenario}")
    if release.status == ReleaseStatus.ARCHIVED:
        raise ValidationError(
            f"release {release.version!r} of {dataset.name!r} is archived; restore it first"
        )
    if release.status != ReleaseStatus.PUBLISHED:
        raise ValidationError(
            f"release {release.version!r} of {dataset.name!r} is {release.status}, not published"
        )
    return release
