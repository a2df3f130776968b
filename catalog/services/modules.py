"""The module tree other systems browse over NATS: modules (datasets, training jobs, servings), each with its
six scenario sub-modules, and one team's resources of a sub-module, paged.

``actor_context`` (sent by the calling system) is ``{"username": str}`` plus, optionally, ``"team_ids":
[int, ...]`` and ``"is_superuser": bool``. The username is resolved against the catalog: teams and superuser
status come from the catalog, never from the caller. The optional fields can only *narrow* what the user
may see (a caller acting for a user within one of their teams), never widen it. An unknown or disabled user
sees nothing, and a team the actor may not see reads exactly like a team that does not exist.
Trust: whoever may publish on the namespace's subjects may speak for any username; restrict publishing
with NATS's own authorization.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, SQLModel, col, func, select

from catalog.errors import ValidationError
from catalog.models import Dataset, Membership, Serving, TrainJob, User
from catalog.scenarios import Scenario
from catalog.scoping import Actor, scoped

_CONTEXT_KEYS = frozenset({"username", "team_ids", "is_superuser"})


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
    )
}


def module_list() -> list[dict[str, Any]]:
    """The three modules, each with its six scenario sub-modules; the same for every caller."""
    children = [{"name": s.value, "display_name": s.display_name} for s in Scenario]
    return [{"name": m.name, "display_name": m.display_name, "children": [dict(c) for c in children]}
            for m in MODULES.values()]


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
    # One query for the user and their memberships (this runs on every NATS request); the same rules as
    # teams.actor_for: active users only, teams from memberships, superuser status from the account.
    rows = session.connection().execute(
        select(User.id, User.is_superuser, User.is_active, Membership.team_id)  # type: ignore[call-overload]
        .select_from(User).outerjoin(Membership, col(Membership.user_id) == col(User.id))
        .where(User.username == username)
    ).all()
    if not rows or not rows[0][2]:
        # No teams at all: every request is then answered like one for a team that does not exist, so a
        # caller cannot tell an unknown or disabled user from a foreign team.
        return Actor(user_id=None, username=username)
    user_id, superuser = rows[0][0], bool(rows[0][1])
    team_ids = frozenset(r[3] for r in rows if r[3] is not None)
    if claimed_teams is not None:
        team_ids &= frozenset(claimed_teams)
    return Actor(user_id=user_id, username=username, team_ids=team_ids,
                 is_superuser=superuser and claimed_super is not False)


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
) -> dict[str, Any]:
    """``{"count": N, "items": [{"id", "name"}]}``: team ``group_id``'s resources of one sub-module.

    ``page`` counts from 1; ``page_size`` is clamped to ``max_page_size``. Items are ordered by name (then
    id): for datasets that is the order of the (team, scenario, name) unique index, so a page is an index
    range scan with no sort.
    """
    if not isinstance(module, str) or module not in MODULES:
        raise ValidationError(f"unknown module {module!r}; expected one of: {', '.join(MODULES)}")
    if not isinstance(child_module, str) or child_module not in {s.value for s in Scenario}:
        raise ValidationError(f"unknown child module {child_module!r} of {module}; expected one of: "
                              f"{', '.join(s.value for s in Scenario)}")
    page = _require_int("page", page)
    page_size = _require_int("page_size", page_size)
    team_id = _require_int("group_id", group_id)
    if page < 1:
        raise ValidationError("page counts from 1")
    if page_size < 1:
        raise ValidationError("page_size must be at least 1")
    page_size = min(page_size, max_page_size)
    actor.require_team(team_id)
    model = MODULES[module].model
    id_col, name_col = col(model.id), col(model.name)  # type: ignore[attr-defined]
    team_col, scenario_col = col(model.team_id), col(model.scenario)  # type: ignore[attr-defined]
    # The scoping helper first (the actor's teams), then the requested team and sub-module.
    count_stmt = scoped(select(func.count()).select_from(model), model, actor)
    count_stmt = count_stmt.where(team_col == team_id, scenario_col == child_module)
    # Core execution on the session's connection: these are plain column reads, and the ORM's result
    # processing would cost more than the queries themselves (pages of 500 must answer in milliseconds).
    conn = session.connection()
    count = int(conn.execute(count_stmt).scalar_one())
    items: list[dict[str, Any]] = []
    offset = (page - 1) * page_size
    if offset < count:
        stmt = scoped(select(id_col, name_col), model, actor)
        stmt = (stmt.where(team_col == team_id, scenario_col == child_module)
                .order_by(name_col, id_col).offset(offset).limit(page_size))
        items = [{"id": ident, "name": name} for ident, name in conn.execute(stmt).all()]
    return {"count": count, "items": items}
