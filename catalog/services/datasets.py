"""Datasets and their entries: create, list, page, flag for splits, and which unpublished releases still
need an entry. Releases live in ``services.releases``, the names lists show for dataset ids in
``services.names``.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from catalog.errors import ConflictError
from catalog.models import Dataset, DatasetEntry, DatasetRelease, ReleaseStatus
from catalog.models.base import utcnow
from catalog.scenarios import parse_scenario
from catalog.scoping import Actor, get_scoped, requires, scoped, team_filter
from catalog.services import quotas
from catalog.services.audit import audited
from catalog.services.common import check_name, page


@requires("datasets:write")
def create_dataset(
    session: Session, *, actor: Actor, team_id: int, scenario: str, name: str, description: str = ""
) -> Dataset:
    with audited(
        session, actor=actor, action="dataset.create", resource_type="dataset", team_id=team_id
    ) as info:
        actor.require_team(team_id)
        scenario = parse_scenario(scenario).value
        name = check_name(name, what="dataset name")
        exists = session.exec(
            select(Dataset.id).where(
                Dataset.team_id == team_id, Dataset.scenario == scenario, Dataset.name == name
            )
        ).first()
        if exists is not None:
            raise ConflictError(f"a {scenario} dataset named {name!r} already exists in this team")
        dataset = Dataset(
            team_id=team_id, scenario=scenario, name=name, description=description, created_by=actor.user_id
        )
        session.add(dataset)
        session.flush()
        info["resource_id"] = dataset.id
    return dataset


@requires("datasets:read")
def get_dataset(session: Session, *, actor: Actor, dataset_id: int) -> Dataset:
    return get_scoped(session, Dataset, dataset_id, actor, kind="dataset")


@requires("datasets:read")
def list_datasets(
    session: Session,
    *,
    actor: Actor,
    scenario: str | None = None,
    team_id: int | None = None,
    include_children: bool = False,
    search: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[int, list[Dataset]]:
    """One page of datasets, newest first; ``team_id`` keeps one team's (with ``include_children``, its
    subtree's: ``scoping.team_filter``)."""
    stmt = scoped(select(Dataset), Dataset, actor)
    if scenario:
        stmt = stmt.where(Dataset.scenario == parse_scenario(scenario).value)
    teams = team_filter(actor, team_id, include_children)
    if teams is not None:
        stmt = stmt.where(col(Dataset.team_id).in_(teams))
    if search:
        stmt = stmt.where(col(Dataset.name).icontains(search))
    return page(session, stmt, offset=offset, limit=limit, order_by=col(Dataset.id).desc())


@requires("datasets:write")
def add_entry(
    session: Session,
    *,
    actor: Actor,
    dataset_id: int,
    name: str,
    object_key: str,
    size_bytes: int,
    sha256: str,
    content_type: str,
    summary: dict[str, Any],
    is_train: bool = True,
    is_val: bool = False,
    is_test: bool = False,
) -> DatasetEntry:
    """Record an entry whose object is already stored (see ``catalog.uploads`` for the whole upload). The
    team's stored-bytes quotas are checked here once more, under the team chain's lock: the uploads' own checks
    come before anything is stored, this one keeps two uploads racing from both taking the last room (the
    caller then deletes the object)."""
    dataset = get_dataset(session, actor=actor, dataset_id=dataset_id)
    with audited(
        session, actor=actor, action="entry.create", resource_type="dataset_entry", team_id=dataset.team_id
    ) as info:
        quotas.require_storage(session, team_id=dataset.team_id, size=size_bytes)
        entry = DatasetEntry(
            dataset_id=dataset_id,
            name=name,
            object_key=object_key,
            size_bytes=size_bytes,
            sha256=sha256,
            content_type=content_type,
            summary=summary,
            is_train=is_train,
            is_val=is_val,
            is_test=is_test,
            created_by=actor.user_id,
        )
        session.add(entry)
        session.flush()
        info["resource_id"] = entry.id
        info["detail"] = {"dataset_id": dataset_id, "name": name, "size_bytes": size_bytes}
    return entry


@requires("datasets:read")
def list_entries(session: Session, *, actor: Actor, dataset_id: int) -> list[DatasetEntry]:
    get_dataset(session, actor=actor, dataset_id=dataset_id)
    stmt = scoped(select(DatasetEntry), DatasetEntry, actor).where(DatasetEntry.dataset_id == dataset_id)
    return list(session.exec(stmt.order_by(col(DatasetEntry.id))).all())


@requires("datasets:read")
def page_entries(
    session: Session,
    *,
    actor: Actor,
    dataset_id: int,
    search: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[int, list[DatasetEntry]]:
    """One page of a dataset's entries in upload order, optionally those whose name contains ``search``."""
    get_dataset(session, actor=actor, dataset_id=dataset_id)
    stmt = scoped(select(DatasetEntry), DatasetEntry, actor).where(DatasetEntry.dataset_id == dataset_id)
    if search:
        stmt = stmt.where(col(DatasetEntry.name).icontains(search))
    return page(session, stmt, offset=offset, limit=limit, order_by=col(DatasetEntry.id))


@requires("datasets:read")
def get_entry(session: Session, *, actor: Actor, entry_id: int) -> DatasetEntry:
    return get_scoped(session, DatasetEntry, entry_id, actor, kind="dataset entry")


@requires("datasets:write")
def set_entry_flags(
    session: Session,
    *,
    actor: Actor,
    entry_id: int,
    is_train: bool | None = None,
    is_val: bool | None = None,
    is_test: bool | None = None,
) -> DatasetEntry:
    """Edit split flags. Releases are unaffected: they froze their entries' splits when created."""
    entry = get_entry(session, actor=actor, entry_id=entry_id)
    dataset = session.get(Dataset, entry.dataset_id)
    with audited(
        session,
        actor=actor,
        action="entry.flags",
        resource_type="dataset_entry",
        team_id=dataset.team_id if dataset else None,
    ) as info:
        info["resource_id"] = entry.id
        for field, value in (("is_train", is_train), ("is_val", is_val), ("is_test", is_test)):
            if value is not None:
                setattr(entry, field, bool(value))
        entry.updated_at = utcnow()
        session.add(entry)
        info["detail"] = {"is_train": entry.is_train, "is_val": entry.is_val, "is_test": entry.is_test}
    return entry


def entry_in_use(session: Session, *, entry_id: int, dataset_id: int) -> list[str]:
    """Versions of unpublished releases that still need this entry's object to be built."""
    releases = session.exec(
        select(DatasetRelease).where(
            DatasetRelease.dataset_id == dataset_id,
            col(DatasetRelease.status).in_(
                [ReleaseStatus.PENDING, ReleaseStatus.PUBLISHING, ReleaseStatus.FAILED]
            ),
        )
    ).all()
    return [r.version for r in releases if any(e["entry_id"] == entry_id for e in r.entries)]
