"""The module tree other systems browse over NATS: modules (datasets, training jobs, servings, models), each with
its six scenario sub-modules, and one team's resources of a sub-module, paged.

``actor_context`` (sent by the calling system) is ``{"username": str}`` plus, optionally, ``"team_ids":
[int, ...]`` and ``"is_superuser": bool``. The username is resolved against the catalog: permissions per team
(roles, team tree) and superuser status come from the catalog, never from the caller. The optional fields can only *narrow* what the user
may see (a caller acting for a user within one of their teams), never widen it. An unknown or disabled user
sees nothing, and a team the actor may not see reads exactly like a team that does not exist.
Trust: whoever may publish on the namespace's subjects may speak for any username; restrict publishing
with NATS's own authorization.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.engine import Compiled, Dialect
from sqlalchemy.sql import Executable, Select
from sqlmodel import Session, SQLModel, col, func, select

from catalog.errors import ValidationError, quote
from catalog.models import Dataset, Membership, Model, Serving, Team, TrainJob, User
from catalog.permissions import TeamTree, compute_grants
from catalog.scenarios import Scenario
from catalog.scoping import READ_PERMISSION, Actor, restrict, team_filter
from catalog.services.roles import role_defs

_CONTEXT_KEYS = frozenset({"username", "team_ids", "is_superuser"})
_SCENARIOS = frozenset(s.value for s in Scenario)


# Built once: on the NATS path (pages of 500 in milliseconds) building a SELECT costs about as much as the
# database work. The same rules as teams.actor_for: active users only, permissions from memberships' roles
# (and the team tree when a role reaches sub-teams), superuser status from the account.
_ACTOR_ROWS = (
    select(User.id, User.is_superuser, User.is_active, Membership.team_id, Membership.role)  # type: ignore[call-overload]
    .select_from(User)
    .outerjoin(Membership, col(Membership.user_id) == col(User.id))
    .where(User.username == bindparam("username"))
)
_TREE_ROWS = select(Team.id, Team.parent_id)  # type: ignore[call-overload]


@dataclass(frozen=True, slots=True)
class Module:
    name: str
    display_name: str
    model: type[SQLModel]


MODULES: dict[str, Module] = {
    m.name: m
    for m in (
        Module("datasets", "Datasets", Dataset),
        Module("training_jobs", "Training jobs", TrainJob),
        Module("servings", "Servings", Serving),
        Module("models", "Models", Model),
    )
}


def module_list() -> list[dict[str, Any]]:
    """The modules, each with its six scenario sub-modules; the same for every caller."""
    children = [{"name": s.value, "display_name": s.display_name} for s in Scenario]
    return [
        {"name": m.name, "display_name": m.display_name, "children": [dict(c) for c in children]}
        for m in MODULES.values()
    ]


def _require_int(name: str, value: object) -> int:
    # bool is an int to Python but never a page number or a team id.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(f"{name} must be an integer, not {type(value).__name__}")
    return value


def actor_from_context(session: Session, *, actor_context: object) -> Actor:
    """The Actor a calling system speaks for (see the module docstring for the shape and the rules)."""
    if not isinstance(actor_context, dict):
        raise ValidationError('actor_context must be an object like {"username": "alice"}')
    unknown = set(actor_context) - _CONTEXT_KEYS
    if unknown:
        raise ValidationError(f"unknown actor_context field(s): {', '.join(sorted(unknown))}")
    username = actor_context.get("username")
    if not isinstance(username, str) or not username.strip():
        raise ValidationError("actor_context.username must be a non-empty string")
    claimed_teams = actor_context.get("team_ids")
    if claimed_teams is not None and (
        not isinstance(claimed_teams, list)
        or not all(isinstance(t, int) and not isinstance(t, bool) for t in claimed_teams)
    ):
        raise ValidationError("actor_context.team_ids must be a list of integers")
    claimed_super = actor_context.get("is_superuser")
    if claimed_super is not None and not isinstance(claimed_super, bool):
        raise ValidationError("actor_context.is_superuser must be true or false")
    username = username.strip()
    rows = _rows(session, _ACTOR_ROWS, {"username": username})
    if not rows or not rows[0][2]:
        # Unknown or disabled: every request is then answered like one for a team that does not exist, so a
        # caller cannot tell an unknown or disabled user from a foreign team.
        return Actor(user_id=None, username=username)
    user_id, superuser = rows[0][0], bool(rows[0][1])
    memberships = [(r[3], r[4]) for r in rows if r[3] is not None]
    defs = role_defs(session, {role for _, role in memberships})
    held = [(team, defs[role]) for team, role in memberships if role in defs]
    # The whole tree (ids only): include_children reaches a team's sub-teams even where the actor's roles do
    # not (a direct member of a parent and of its child).
    tree = TeamTree({t: p for t, p in _rows(session, _TREE_ROWS, {})})
    grants = compute_grants(held, tree)
    if claimed_teams is not None:
        grants = {t: p for t, p in grants.items() if t in set(claimed_teams)}
    return Actor(
        user_id=user_id,
        username=username,
        grants=grants,
        is_superuser=superuser and claimed_super is not False,
        tree=tree,
        member_of=frozenset(team for team, _ in memberships),
    )


def module_data(
    session: Session,
    *,
    actor: Actor,
    module: object,
    child_module: object,
    page: object,
    page_size: object,
    group_id: object,
    max_page_size: int,
    include_children: object = False,
) -> dict[str, Any]:
    """``{"count": N, "items": [{"id", "name"}]}``: team ``group_id``'s resources of one sub-module, and with
    ``include_children`` those of every team below it the actor may read (as the reference module's
    ``include_children``); never of its siblings or ancestors.

    ``page`` counts from 1; ``page_size`` is clamped to ``max_page_size``. Items are ordered by name (then
    id): the order of each table's (team, scenario, name) index, so a page is a range scan of that index with
    no sort, and the count is answered from the index alone.
    """
    if not isinstance(module, str) or module not in MODULES:
        raise ValidationError(f"unknown module {quote(module)}; expected one of: {', '.join(MODULES)}")
    if not isinstance(child_module, str) or child_module not in _SCENARIOS:
        raise ValidationError(
            f"unknown child module {quote(child_module)} of {module}; expected one of: "
            f"{', '.join(s.value for s in Scenario)}"
        )
    page = _require_int("page", page)
    page_size = _require_int("page_size", page_size)
    team_id = _require_int("group_id", group_id)
    if page < 1:
        raise ValidationError("page counts from 1")
    if page_size < 1:
        raise ValidationError("page_size must be at least 1")
    if not isinstance(include_children, bool):
        raise ValidationError("include_children must be true or false")
    page_size = min(page_size, max_page_size)
    teams = team_filter(actor, team_id, include_children)
    model = MODULES[module].model
    count_stmt, page_stmt = _statements(model, actor.teams_with(READ_PERMISSION[model]))
    params: dict[str, Any] = {"team_ids": teams, "scenario": child_module}
    count = int(_rows(session, count_stmt, params)[0][0])
    items: list[dict[str, Any]] = []
    offset = (page - 1) * page_size
    if offset < count:
        rows = _rows(session, page_stmt, {**params, "offset": offset, "limit": page_size})
        items = [{"id": ident, "name": name} for ident, name in rows]
    return {"count": count, "items": items}


@lru_cache(maxsize=1024)
def _statements(model: type[SQLModel], readable: frozenset[int] | None) -> tuple[Select[Any], Select[Any]]:
    """The count and page statements of one module for an actor that may read ``readable`` teams (None: all):
    the scoping restriction first, then the requested teams and sub-module, bound per call. Cached by the
    readable teams, so a membership change makes new statements."""
    id_col, name_col = col(model.id), col(model.name)  # type: ignore[attr-defined]
    team_col, scenario_col = col(model.team_id), col(model.scenario)  # type: ignore[attr-defined]
    wanted = (team_col.in_(bindparam("team_ids", expanding=True)), scenario_col == bindparam("scenario"))
    count_stmt = restrict(select(func.count()).select_from(model), model, readable).where(*wanted)
    page_stmt = (
        restrict(select(id_col, name_col), model, readable)
        .where(*wanted)
        .order_by(name_col, id_col)
        .offset(bindparam("offset"))
        .limit(bindparam("limit"))
    )
    return count_stmt, page_stmt


@lru_cache(maxsize=4096)
def _compiled(stmt: Executable, dialect: Dialect) -> Compiled:
    """A cached statement compiled once per database dialect."""
    return stmt.compile(dialect=dialect)


def _rows(session: Session, stmt: Executable, params: dict[str, Any]) -> list[Any]:
    """Rows of one of this module's cached statements, run on the DBAPI cursor of the session's connection.

    These are reads of integer and text columns (nothing for SQLAlchemy to convert either way), and on the NATS
    path SQLAlchemy's per-execution work (cache lookup, execution context, result objects) cost more than
    the database did. The connection and its transaction are still the session's.
    """
    conn = session.connection()
    compiled = _compiled(stmt, conn.dialect)
    state = compiled.construct_expanded_state(params)  # type: ignore[attr-defined]
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(
            state.statement, state.positional_parameters if compiled.positional else state.parameters
        )  # type: ignore[attr-defined]
        return cursor.fetchall()
    finally:
        cursor.close()
