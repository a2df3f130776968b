"""Tenant scoping and permissions: the one place that decides which rows an actor may see and what it may do.

An ``Actor`` holds the permissions it has on each team (``grants``, from its memberships' roles and the team
tree: ``catalog.permissions.compute_grants``), and optionally a ``ceiling`` (a token narrowed to some
permissions). Every public service function declares the permission it needs with ``@requires``; for the
whole call, every team-owned row it touches goes through ``scoped()`` (lists) or ``get_scoped()`` (one row by
id) and every team it creates in goes through ``Actor.require_team``, which enforce that permission:

- a row of a team the actor cannot read (no ``<kind>:read`` there) raises the same ``NotFoundError`` as a row
  that does not exist;
- a row the actor can read but may not act on raises ``PermissionDeniedError`` naming the permission;
- lists hold only rows of teams where the actor has the permission.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.sql import Select
from sqlmodel import Session, SQLModel, select

from catalog.errors import NotFoundError, PermissionDeniedError
from catalog.models import (
    Dataset,
    DatasetEntry,
    DatasetRelease,
    Model,
    ModelEvaluation,
    Rollout,
    Serving,
    TrainJob,
)
from catalog.permissions import ADMIN, TeamTree, implies

T = TypeVar("T", bound=SQLModel)
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is asking: a user with their permissions per team, or the system (flows, reconcilers) acting for
    everyone. ``team_ids`` are the teams the actor holds any permission on; ``member_of`` those it is a member
    of (where a new resource goes by default)."""

    user_id: int | None
    username: str
    grants: Mapping[int, frozenset[str]] = field(default_factory=dict)
    is_superuser: bool = False
    current_team_id: int | None = None
    ceiling: frozenset[str] | None = None  # a narrowed token's permissions; None: no narrowing
    tree: TeamTree = field(default_factory=TeamTree)
    member_of: frozenset[int] = field(default_factory=frozenset)
    team_names: Mapping[int, str] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.user_id, self.username, self.is_superuser, self.current_team_id, self.ceiling))

    @property
    def team_ids(self) -> frozenset[int]:
        return frozenset(self.grants)

    def _allowed(self, permission: str) -> bool:
        return self.ceiling is None or implies(self.ceiling, permission)

    def can(self, permission: str, team_id: int | None = None) -> bool:
        """Whether the actor holds ``permission`` on ``team_id`` (``None``: platform-wide, i.e. ``admin:*``)."""
        if not self._allowed(permission):
            return False
        if self.is_superuser:
            return True
        if team_id is None:
            return False
        return implies(self.grants.get(team_id, ()), permission)

    def can_see_team(self, team_id: int | None) -> bool:
        return self.is_superuser or (team_id is not None and team_id in self.grants)

    def teams_with(self, permission: str) -> frozenset[int] | None:
        """Teams on which the actor holds ``permission``; None means every team (an administrator)."""
        if not self._allowed(permission):
            return frozenset()
        if self.is_superuser:
            return None
        return frozenset(t for t, perms in self.grants.items() if implies(perms, permission))

    def require(self, permission: str, team_id: int | None = None, *, kind: str = "team") -> None:
        """Refuse unless the actor holds ``permission`` on ``team_id`` (platform-wide when None). A team the
        actor cannot see at all is refused exactly like a team that does not exist."""
        if self.can(permission, team_id):
            return
        if team_id is not None and not self.can_see_team(team_id):
            raise NotFoundError(kind, team_id)
        raise PermissionDeniedError(self.refusal(permission, team_id))

    def refusal(self, permission: str, team_id: int | None) -> str:
        if team_id is None:
            return f"only an administrator may do this (permission {permission!r})"
        if self.ceiling is not None and not implies(self.ceiling, permission):
            return f"this token is not allowed {permission!r}"
        team = self.team_names.get(team_id, team_id)
        return f"your role in team {team!r} does not grant {permission!r}"

    def require_team(self, team_id: int, *, kind: str = "team") -> None:
        """The permission of the current service call (``requires``) on ``team_id``; outside one, only that
        the actor sees the team (a team it does not see reads as nonexistent)."""
        permission = current_permission()
        if permission is not None:
            self.require(permission, team_id, kind=kind)
        elif not self.can_see_team(team_id):
            raise NotFoundError(kind, team_id)

    def require_superuser(self, action: str) -> None:
        if not self.can(ADMIN):
            raise PermissionDeniedError(f"only an administrator may {action} (permission {ADMIN!r})")

    def within(self, team_id: int | None) -> Actor:
        """This actor restricted to ``team_id`` and its descendants (the dashboard's current team)."""
        if team_id is None:
            return replace(self, grants={})
        reach = set(self.tree.subtree(team_id))
        return replace(self, grants={t: p for t, p in self.grants.items() if t in reach})

    def subtree(self, team_id: int) -> list[int]:
        return self.tree.subtree(team_id)


SYSTEM = Actor(user_id=None, username="system", is_superuser=True)


def team_filter(actor: Actor, team_id: int | None, include_children: bool = False) -> list[int] | None:
    """The teams a list's ``team_id`` filter stands for: None (no filter) without one; else the team alone, or
    with ``include_children`` the team and every team below it (never its siblings or ancestors). A team the
    actor cannot see is refused exactly like one that does not exist. Rows are still restricted by
    ``scoped`` to the teams where the actor holds the call's permission: this only narrows. The subtree is
    the actor's ``tree`` (``SYSTEM`` has none: for it a team stands alone)."""
    if team_id is None:
        return None
    # An administrator sees every team: one that does not exist simply lists nothing.
    if not actor.can_see_team(team_id):
        raise NotFoundError("team", team_id)
    return actor.subtree(team_id) if include_children else [team_id]


# ---------------------------------------------------------------- the permission of the current call

_CURRENT: ContextVar[dict[str, Any] | None] = ContextVar("mlops_permission", default=None)
# Every function that declared its permission, by "module.function" (the permission matrix enumerates it).
REQUIRED: dict[str, str] = {}


def current_permission() -> str | None:
    check = _CURRENT.get()
    return check["permission"] if check else None


def current_check() -> dict[str, Any] | None:
    """The running ``requires`` call's record: ``permission``, and ``audited`` once an audit record is queued."""
    return _CURRENT.get()


def requires(permission: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Declare the permission a service function needs. For the duration of the call, ``scoped``,
    ``get_scoped`` and ``Actor.require_team`` enforce it on every team-owned row and team the function
    touches; a call nested in another keeps the outer call's permission (what the user asked to do).

    A refusal that no ``audit.audited`` block recorded is recorded here (changes always; reads only when the
    permission, not a missing row, refused them), with the permission checked.
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        REQUIRED[f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}"] = permission

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if _CURRENT.get() is not None:
                return fn(*args, **kwargs)
            check: dict[str, Any] = {"permission": permission, "audited": False}
            token = _CURRENT.set(check)
            try:
                return fn(*args, **kwargs)
            except (NotFoundError, PermissionDeniedError) as exc:
                changes = not permission.endswith(":read")
                if not check["audited"] and (changes or type(exc) is PermissionDeniedError):
                    from catalog.services.audit import record_refusal

                    record_refusal(fn, permission, exc, args, kwargs)
                raise
            finally:
                _CURRENT.reset(token)

        return wrapper

    return decorate


# ---------------------------------------------------------------- rows

# How to reach the owning team of each scoped table: its own team_id, or a join to the parent dataset.
_DIRECT_TEAM = {
    Dataset: Dataset.team_id,
    TrainJob: TrainJob.team_id,
    Serving: Serving.team_id,
    Model: Model.team_id,
    ModelEvaluation: ModelEvaluation.team_id,
    Rollout: Rollout.team_id,
}
_VIA_DATASET = {DatasetEntry: DatasetEntry.dataset_id, DatasetRelease: DatasetRelease.dataset_id}
# The permission that makes a table's rows visible at all.
READ_PERMISSION = {
    Dataset: "datasets:read",
    DatasetEntry: "datasets:read",
    DatasetRelease: "datasets:read",
    TrainJob: "jobs:read",
    Serving: "servings:read",
    Model: "models:read",
    ModelEvaluation: "models:read",
    Rollout: "servings:read",
}


def restrict(stmt: Select[Any], model: type[SQLModel], team_ids: frozenset[int] | None) -> Select[Any]:
    """``stmt`` on ``model`` limited to rows of ``team_ids`` (None: unlimited)."""
    if team_ids is None:
        return stmt
    ids = sorted(team_ids)
    if model in _DIRECT_TEAM:
        return stmt.where(_DIRECT_TEAM[model].in_(ids))
    if model in _VIA_DATASET:
        return stmt.join(Dataset, Dataset.id == _VIA_DATASET[model]).where(Dataset.team_id.in_(ids))
    raise TypeError(f"{model.__name__} is not a team-scoped table")


def scoped(stmt: Select[Any], model: type[SQLModel], actor: Actor) -> Select[Any]:
    """Restrict a SELECT on ``model`` to the teams where the actor holds the current call's permission (its
    read permission outside a ``requires`` call); administrators are unfiltered."""
    if model not in READ_PERMISSION:
        raise TypeError(f"{model.__name__} is not a team-scoped table")
    return restrict(stmt, model, actor.teams_with(current_permission() or READ_PERMISSION[model]))


def get_scoped(
    session: Session, model: type[T], ident: int | None, actor: Actor, *, kind: str | None = None
) -> T:
    """One row by primary key if the actor may see it (else NotFoundError, as if it did not exist) and holds
    the current call's permission on its team (else PermissionDeniedError)."""
    kind = kind or model.__name__
    if ident is None:
        raise NotFoundError(kind, ident)
    read = READ_PERMISSION.get(model)
    if read is None:
        raise TypeError(f"{model.__name__} is not a team-scoped table")
    stmt = restrict(select(model).where(model.id == ident), model, actor.teams_with(read))  # type: ignore[attr-defined]
    row = session.exec(stmt).first()
    if row is None:
        raise NotFoundError(kind, ident)
    wanted = current_permission()
    if wanted is not None and not actor.can(wanted, team_of(session, row)):
        raise PermissionDeniedError(actor.refusal(wanted, team_of(session, row)))
    return row


def team_of(session: Session, row: SQLModel) -> int | None:
    """The owning team of any scoped row (for audit records and isolation checks)."""
    if hasattr(row, "team_id"):
        return row.team_id  # type: ignore[no-any-return]
    dataset_id = getattr(row, "dataset_id", None)
    dataset = session.get(Dataset, dataset_id) if dataset_id is not None else None
    return dataset.team_id if dataset else None
