"""Names for the ids rows hold, so that lists show names: datasets, releases (``dataset version``), training
jobs, models (and how many versions each has), algorithms, teams, and the resources of audit events.

Each function takes the ids of one page and answers in one query per kind of row. An id the actor may not see
is left out exactly like one that does not exist (``catalog.scoping``): the caller shows the bare id for both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import func
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Select
from sqlmodel import Session, col, select

from catalog.models import (
    AlgorithmConfig,
    Dataset,
    DatasetEntry,
    DatasetRelease,
    Model,
    ModelVersion,
    Serving,
    Team,
    TrainJob,
    User,
)
from catalog.scoping import Actor, requires, scoped


def _lookup(session: Session, stmt: Select[Any], key: Any, ids: Iterable[int | None]) -> dict[int, str]:
    """``{id: name}`` from ``stmt`` (selecting an id and a name) for its rows whose ``key`` is among ``ids``;
    no query at all for no ids."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    return {i: name for i, name in session.exec(stmt.where(col(key).in_(wanted))).all()}


def dataset_names(session: Session, *, actor: Actor, dataset_ids: Iterable[int | None]) -> dict[int, str]:
    """Names of the given datasets the actor may see."""
    return _lookup(session, scoped(select(Dataset.id, Dataset.name), Dataset, actor), Dataset.id, dataset_ids)


def release_labels(session: Session, *, actor: Actor, release_ids: Iterable[int | None]) -> dict[int, str]:
    """``"{dataset name} {version}"`` (e.g. ``cpu v1``) of the given releases the actor may see."""
    # An alias of its own: scoped() joins Dataset itself for actors who are not superusers.
    owner = aliased(Dataset)
    labelled = select(DatasetRelease.id, owner.name + " " + DatasetRelease.version).join(
        owner, owner.id == DatasetRelease.dataset_id
    )
    return _lookup(session, scoped(labelled, DatasetRelease, actor), DatasetRelease.id, release_ids)


def job_names(session: Session, *, actor: Actor, job_ids: Iterable[int | None]) -> dict[int, str]:
    """Names of the given training jobs the actor may see."""
    return _lookup(session, scoped(select(TrainJob.id, TrainJob.name), TrainJob, actor), TrainJob.id, job_ids)


@requires("models:read")
def model_names(session: Session, *, actor: Actor, model_ids: Iterable[int | None]) -> dict[int, str]:
    """Names of the given models the actor may see."""
    return _lookup(session, scoped(select(Model.id, Model.name), Model, actor), Model.id, model_ids)


@requires("models:read")
def version_counts(session: Session, *, actor: Actor, model_ids: Iterable[int | None]) -> dict[int, int]:
    """How many versions each of the given models the actor may see has (0 for none yet)."""
    wanted = sorted({i for i in model_ids if i is not None})
    if not wanted:
        return {}
    stmt = (
        scoped(select(Model.id, func.count(col(ModelVersion.id))), Model, actor)
        .outerjoin(ModelVersion, col(ModelVersion.model_id) == Model.id)
        .where(col(Model.id).in_(wanted))
        .group_by(col(Model.id))
    )
    return {int(i): int(n) for i, n in session.exec(stmt).all()}


def algorithm_names(session: Session, *, algorithm_ids: Iterable[int | None]) -> dict[int, str]:
    """Names of the given algorithms (the algorithm catalog is shared by every team)."""
    return _lookup(
        session, select(AlgorithmConfig.id, AlgorithmConfig.name), AlgorithmConfig.id, algorithm_ids
    )


def team_names(session: Session, *, actor: Actor, team_ids: Iterable[int | None]) -> dict[int, str]:
    """Names of the given teams the actor may see: its own, or every team for a superuser."""
    visible = [i for i in team_ids if actor.can_see_team(i)]
    return _lookup(session, select(Team.id, Team.name), Team.id, visible)


def _entry_names(session: Session, actor: Actor, ids: list[int]) -> dict[int, str]:
    stmt = scoped(select(DatasetEntry.id, DatasetEntry.name), DatasetEntry, actor)
    return _lookup(session, stmt, DatasetEntry.id, ids)


def _serving_names(session: Session, actor: Actor, ids: list[int]) -> dict[int, str]:
    return _lookup(session, scoped(select(Serving.id, Serving.name), Serving, actor), Serving.id, ids)


def _user_names(session: Session, actor: Actor, ids: list[int]) -> dict[int, str]:
    # As teams.get_user: a user who is not a superuser sees only itself.
    visible = ids if actor.is_superuser else [i for i in ids if i == actor.user_id]
    return _lookup(session, select(User.id, User.username), User.id, visible)


# resource_type of audit events (``services.audit.audited``) → the names of such resources.
_RESOURCES: dict[str, Callable[[Session, Actor, list[int]], dict[int, str]]] = {
    "dataset": lambda s, a, ids: dataset_names(s, actor=a, dataset_ids=ids),
    "dataset_entry": _entry_names,
    "dataset_release": lambda s, a, ids: release_labels(s, actor=a, release_ids=ids),
    "train_job": lambda s, a, ids: job_names(s, actor=a, job_ids=ids),
    "serving": _serving_names,
    "algorithm": lambda s, a, ids: algorithm_names(s, algorithm_ids=ids),
    "team": lambda s, a, ids: team_names(s, actor=a, team_ids=ids),
    "user": _user_names,
}


def resource_names(
    session: Session, *, actor: Actor, resources: Iterable[tuple[str, str | None]]
) -> dict[tuple[str, str], str]:
    """Names of audit events' resources, by ``(resource_type, resource_id)`` as events record them (the id a
    string); one query per type present. Unknown types, ids that are not numbers, deleted rows and rows the
    actor may not see are left out."""
    by_type: dict[str, set[int]] = {}
    for kind, ident in resources:
        if kind in _RESOURCES and ident is not None and ident.isdigit():
            by_type.setdefault(kind, set()).add(int(ident))
    return {
        (kind, str(i)): name
        for kind, ids in by_type.items()
        for i, name in _RESOURCES[kind](session, actor, sorted(ids)).items()
    }
