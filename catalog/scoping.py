"""Tenant scoping: the one place that decides which rows an actor may see.

Every read of a team-owned row goes through ``scoped()`` (lists) or ``get_scoped()`` (one row by id).
A row of another team and a row that does not exist raise the same ``NotFoundError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.sql import Select
from sqlmodel import Session, SQLModel, select

from catalog.errors import NotFoundError, PermissionDeniedError
from catalog.models import Dataset, DatasetEntry, DatasetRelease, Serving, TrainJob

T = TypeVar("T", bound=SQLModel)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is asking: a user with their teams, or the system (flows, reconcilers) acting for everyone."""

    user_id: int | None
    username: str
    team_ids: frozenset[int] = field(default_factory=frozenset)
    is_superuser: bool = False
    current_team_id: int | None = None

    def can_see_team(self, team_id: int | None) -> bool:
        return self.is_superuser or (team_id is not None and team_id in self.team_ids)

    def require_team(self, team_id: int, *, kind: str = "team") -> None:
        """Refuse a team the actor does not belong to, exactly like a team that does not exist."""
        if not self.can_see_team(team_id):
            raise NotFoundError(kind, team_id)

    def require_superuser(self, action: str) -> None:
        if not self.is_superuser:
            raise PermissionDeniedError(f"only an administrator may {action}")


SYSTEM = Actor(user_id=None, username="system", is_superuser=True)


# How to reach the owning team of each scoped table: its own team_id, or a join to the parent dataset.
_DIRECT_TEAM = {Dataset: Dataset.team_id, TrainJob: TrainJob.team_id, Serving: Serving.team_id}
_VIA_DATASET = {DatasetEntry: DatasetEntry.dataset_id, DatasetRelease: DatasetRelease.dataset_id}


def scoped(stmt: Select[Any], model: type[SQLModel], actor: Actor) -> Select[Any]:
    """Restrict a SELECT on ``model`` to the actor's teams (superusers are unfiltered)."""
    if actor.is_superuser:
        return stmt
    team_ids = sorted(actor.team_ids)
    if model in _DIRECT_TEAM:
        return stmt.where(_DIRECT_TEAM[model].in_(team_ids))
    if model in _VIA_DATASET:
        return stmt.join(Dataset, Dataset.id == _VIA_DATASET[model]).where(Dataset.team_id.in_(team_ids))
    raise TypeError(f"{model.__name__} is not a team-scoped table")


def get_scoped(
    session: Session, model: type[T], ident: int | None, actor: Actor, *, kind: str | None = None
) -> T:
    """One row by primary key if the actor may see it; otherwise NotFoundError, as if it did not exist."""
    kind = kind or model.__name__
    if ident is None:
        raise NotFoundError(kind, ident)
    stmt = scoped(select(model).where(model.id == ident), model, actor)  # type: ignore[attr-defined]
    row = session.exec(stmt).first()
    if row is None:
        raise NotFoundError(kind, ident)
    return row


def team_of(session: Session, row: SQLModel) -> int | None:
    """The owning team of any scoped row (for audit records and isolation checks)."""
    if hasattr(row, "team_id"):
        return row.team_id  # type: ignore[no-any-return]
    dataset_id = getattr(row, "dataset_id", None)
    dataset = session.get(Dataset, dataset_id) if dataset_id is not None else None
    return dataset.team_id if dataset else None
