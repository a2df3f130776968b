"""Permissions, the built-in roles, and the team tree: what a role grants on which teams. Pure: no database.

A permission is ``<kind>:<action>`` (``datasets:read``, ``jobs:start``…). A role is a set of permissions and
whether it reaches down the team tree (``includes_children``): a maintainer of a parent team holds its
permissions on every descendant team too, never on siblings or ancestors. ``admin:*`` implies every
permission; ``<kind>:*`` every action of one kind.

``compute_grants`` turns a user's memberships into the permissions held on each team; ``catalog.scoping`` is
the one place that checks them (and ``tests/catalog/test_permission_matrix.py`` checks every service function
against this table).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Every permission a role may grant, with what it allows (shown to admins defining roles, and in the docs).
PERMISSIONS: dict[str, str] = {
    "datasets:read": "see datasets, their entries and releases; download them",
    "datasets:write": "create datasets, upload entries, change their splits",
    "releases:publish": "create, publish, archive and restore dataset releases",
    "jobs:read": "see training jobs, their runs, parameters, metrics and models",
    "jobs:write": "create and edit training jobs (custom jobs too); delete and restore their runs",
    "jobs:start": "start and stop training jobs",
    "servings:read": "see servings and their state",
    "servings:manage": "create, change, start, stop and delete servings; get their inference token",
    "servings:predict": "send prediction requests to a serving through the platform",
    "models:read": "see a team's models and their versions",
    "models:promote": "ask the promotion gate to promote a version of a team's model; roll the champion back",
    "models:manage": "set a model's aliases by hand (bypassing the gate) and configure its promotion gate",
    "audit:read": "see the team's audit log",
    "members:manage": "add and remove members, manage the team's service accounts and their tokens",
    "teams:manage": "create sub-teams of the team, move and delete them",
    "admin:*": "administer the platform: every permission on every team, users, roles, quotas, algorithms",
}
ADMIN = "admin:*"
KINDS = frozenset(p.split(":", 1)[0] for p in PERMISSIONS)


@dataclass(frozen=True, slots=True)
class RoleDef:
    """What a role grants: its permissions and whether they reach the descendants of the member's team."""

    name: str
    permissions: frozenset[str]
    includes_children: bool = False
    description: str = ""
    builtin: bool = False


_READ = frozenset({"datasets:read", "jobs:read", "servings:read", "models:read"})
_MEMBER = _READ | {
    "datasets:write",
    "releases:publish",
    "jobs:write",
    "jobs:start",
    "servings:manage",
    "servings:predict",
    "audit:read",
}
_MAINTAINER = _MEMBER | {"models:promote"}

BUILTIN_ROLES: dict[str, RoleDef] = {
    r.name: r
    for r in (
        RoleDef("viewer", _READ, description="sees the team's resources, changes nothing", builtin=True),
        RoleDef(
            "member",
            _MEMBER,
            description="works with the team's data, jobs and servings; reads its audit log",
            builtin=True,
        ),
        RoleDef(
            "maintainer",
            _MAINTAINER,
            includes_children=True,
            description="a member who also promotes models, on the team and its sub-teams",
            builtin=True,
        ),
        RoleDef(
            "admin",
            _MAINTAINER | {"members:manage", "teams:manage", "models:manage"},
            includes_children=True,
            description="team admin: a maintainer who also manages members, service accounts and sub-teams",
            builtin=True,
        ),
    )
}


def implies(granted: Iterable[str], wanted: str) -> bool:
    """Whether any of ``granted`` allows ``wanted`` (exactly, through ``<kind>:*``, or through ``admin:*``)."""
    kind = wanted.split(":", 1)[0]
    return any(g == wanted or g == ADMIN or g == f"{kind}:*" for g in granted)


def check_permissions(values: Iterable[str]) -> frozenset[str]:
    """Validate permission names (a role's, a token's): known ones or ``<known kind>:*``. Raises ValueError
    naming the first unknown one."""
    out = set()
    for value in values:
        kind, _, action = str(value).partition(":")
        if value not in PERMISSIONS and not (action == "*" and kind in KINDS):
            known = ", ".join(PERMISSIONS)
            raise ValueError(f"unknown permission {str(value)[:60]!r}; known: {known} (or <kind>:*)")
        out.add(str(value))
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class TeamTree:
    """Each team's parent (``None`` for a root), as the catalog holds it."""

    parents: Mapping[int, int | None] = field(default_factory=dict)

    def children(self, team_id: int) -> list[int]:
        return sorted(t for t, p in self.parents.items() if p == team_id)

    def descendants(self, team_id: int) -> list[int]:
        """Every team below ``team_id`` (not itself), breadth first."""
        out: list[int] = []
        frontier = [team_id]
        while frontier:
            frontier = [c for t in frontier for c in self.children(t) if c not in out]
            out.extend(frontier)
        return out

    def subtree(self, team_id: int) -> list[int]:
        return [team_id, *self.descendants(team_id)]

    def ancestors(self, team_id: int) -> list[int]:
        """Parent, grandparent… up to the root (a broken cycle in the data stops the walk)."""
        out: list[int] = []
        parent = self.parents.get(team_id)
        while parent is not None and parent not in out and parent != team_id:
            out.append(parent)
            parent = self.parents.get(parent)
        return out

    def move_problem(self, team_id: int, new_parent: int | None) -> str | None:
        """Why ``team_id`` may not move under ``new_parent`` (None: it may)."""
        if new_parent is None:
            return None
        if new_parent == team_id:
            return "a team cannot be its own parent"
        if new_parent in self.descendants(team_id):
            return "a team cannot move under one of its own sub-teams"
        return None


def compute_grants(memberships: Iterable[tuple[int, RoleDef]], tree: TeamTree) -> dict[int, frozenset[str]]:
    """The permissions a user holds on each team: a membership's role on its team, and on every descendant
    when the role includes children. Several memberships reaching a team add up."""
    grants: dict[int, set[str]] = {}
    for team_id, role in memberships:
        reach = tree.subtree(team_id) if role.includes_children else [team_id]
        for team in reach:
            grants.setdefault(team, set()).update(role.permissions)
    return {team: frozenset(perms) for team, perms in grants.items()}
