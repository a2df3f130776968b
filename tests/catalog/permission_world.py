"""The world the permission matrix runs in, what it expects, and how it observes a call.

A team tree P → {O, S}, O → C, named by how it relates to the actors: ``own`` (O), ``child`` (C), ``parent``
(P), ``sibling`` (S). Every team gets the same resources through the services (a dataset with an entry whose
object is stored, a published release whose zip is stored, a completed preset job with a finished MLflow run, a
custom job, a serving, a service account and a plain member). The actors: one member of O per built-in role
(``catalog.permissions.BUILTIN_ROLES``) and a superuser. Every name contains ``SECRET``: a refusal that reads
like a missing id must not contain it.

The expectation is computed from the roles, never written per case (``expected``): on O a role is allowed
what its permissions imply; on C the same if the role includes children; P and S it does not see. ``admin:*``
is no team role's. A refusal on a team the actor sees is a PermissionDeniedError naming the permission; on one
it does not see it reads exactly like a missing id (the same call on ``PermissionWorld.missing``, a team world
whose every id is one no row has).
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

from sqlmodel import Session

from catalog.db import get_engine, session_scope
from catalog.errors import CatalogError
from catalog.models import DatasetEntry, DatasetRelease
from catalog.permissions import ADMIN, BUILTIN_ROLES, implies
from catalog.presets import import_presets
from catalog.scoping import SYSTEM, Actor
from catalog.services import algorithms, custom_jobs, model_promotion, roles, team_tree, teams, tokens
from infra.objectstore import ObjectStore
from infra.settings import get_settings
from tests.catalog.isolation_world import (
    MISSING,
    MISSING_RUN,
    PASSWORD,
    SECRET,
    add_rollout,
    add_run,
    team_resources,
)

SCN = "anomaly_detection"
RELATIONS = ("own", "child", "parent", "sibling")
PARENT_OF = {"own": "parent", "sibling": "parent", "child": "own"}
SUPERUSER = "superuser"
ROLES = tuple(BUILTIN_ROLES)
ALLOWED, DENIED, HIDDEN = "allowed", "denied", "hidden"  # hidden: refused exactly like a missing id
ENTRY_BYTES = b"timestamp,value\n2024-01-01T00:00:00,1.0\n2024-01-02T00:00:00,2.0\n"
RELEASE_BYTES = b"PK\x05\x06" + b"\0" * 18  # an empty zip: downloads stream and verify it, nothing opens it


def expected(permission: str | None, role: str, relation: str) -> str:
    """What a member of O with ``role`` gets when a call needing ``permission`` (None: only seeing the team)
    touches the ``relation`` team."""
    if role == SUPERUSER:
        return ALLOWED
    definition = BUILTIN_ROLES[role]
    if not (relation == "own" or (relation == "child" and definition.includes_children)):
        return HIDDEN
    if permission is None or (permission != ADMIN and implies(definition.permissions, permission)):
        return ALLOWED
    return DENIED


def user_name(role: str) -> str:
    return "root" if role == SUPERUSER else f"{role}-of-own"


@dataclass(frozen=True)
class TeamWorld:
    """One team's ids (and the shared ones a call needs: the algorithm, a user of no team)."""

    relation: str
    team: int
    name: str
    dataset: int
    entry: int
    release: int
    job: int
    custom_job: int
    serving: int
    model: int
    evaluation: int  # a pending promotion of the model's version 1
    rollout: int  # an aborted roll-out of the serving
    run: str
    robot: int  # a service account of the team
    member: int  # a plain member of the team
    algorithm: int
    outsider: int

    def own_ids(self) -> list[str]:
        """The ids of the team's own rows, longest first (``words`` replaces them)."""
        shared = {"relation", "name", "algorithm", "outsider"}
        values = {str(getattr(self, f.name)) for f in fields(self) if f.name not in shared}
        return sorted(values, key=len, reverse=True)

    def missing(self) -> TeamWorld:
        """The same world with every id of the team's rows one that no row has."""
        ids = {f.name: MISSING for f in fields(self) if f.type in ("int", int)}
        ids |= {"algorithm": self.algorithm, "outsider": self.outsider}
        return replace(self, relation="missing", name="no-such-team", run=MISSING_RUN, **ids)


@dataclass
class PermissionWorld:
    teams: dict[str, TeamWorld]  # by relation
    actors: dict[str, Actor]  # by role, and SUPERUSER


def _store_objects(s: Session, entry_id: int, release_id: int) -> None:
    """Objects behind the entry and the release, with the size and sha256 their rows record (downloads verify)."""
    store = ObjectStore.from_settings(get_settings().s3)
    for model, ident, data in (
        (DatasetEntry, entry_id, ENTRY_BYTES),
        (DatasetRelease, release_id, RELEASE_BYTES),
    ):
        row = s.get(model, ident)
        assert row is not None and row.object_key
        store.put_bytes(row.object_key, data)
        row.size_bytes, row.sha256 = len(data), hashlib.sha256(data).hexdigest()
        s.add(row)


def build_permission_world() -> PermissionWorld:
    """Seed the catalog of the current settings (migrated, custom jobs allowed) through the services."""
    with session_scope() as s:
        import_presets(s)
        # A custom role held by no one, for the role operations of the API matrix.
        roles.create_role(s, actor=SYSTEM, name="matrix-role", permissions=["jobs:read"])
        team_ids: dict[str, int] = {}
        for relation in ("parent", "own", "sibling", "child"):  # parents first
            team = team_tree.create_team(s, actor=SYSTEM, name=f"{SECRET}-{relation}")
            # Set on the row: the world does not depend on how sub-teams are created.
            team.parent_id = team_ids.get(PARENT_OF.get(relation, ""))
            s.add(team)
            team_ids[relation] = team.id  # type: ignore[assignment]
        for role in (*ROLES, SUPERUSER):
            user = teams.create_user(
                s, actor=SYSTEM, username=user_name(role), password=PASSWORD, is_superuser=role == SUPERUSER
            )
            if role != SUPERUSER:
                teams.add_member(s, actor=SYSTEM, team_id=team_ids["own"], user_id=user.id, role=role)
        members = {}
        for relation, team_id in team_ids.items():
            member = teams.create_user(
                s, actor=SYSTEM, username=f"{SECRET}-member-of-{relation}", password=PASSWORD
            )
            teams.add_member(s, actor=SYSTEM, team_id=team_id, user_id=member.id)  # type: ignore[arg-type]
            members[relation] = member.id
        outsider = teams.create_user(s, actor=SYSTEM, username="outsider", password=PASSWORD).id
        algorithm = algorithms.get_algorithm(s, scenario=SCN, name="ECOD").id
    made: dict[str, dict[str, Any]] = {}
    with session_scope() as s:
        for relation, team_id in team_ids.items():
            prefix = f"{SECRET}-{relation}"
            ids: dict[str, Any] = team_resources(s, SYSTEM, team_id, prefix)
            _store_objects(s, ids["entry"], ids["release"])
            ids["evaluation"] = model_promotion.request_promotion(
                s, actor=SYSTEM, model_id=ids["model"], version=1
            ).id
            ids["rollout"] = add_rollout(s, ids["serving"])
            ids["robot"] = tokens.create_service_account(
                s, actor=SYSTEM, team_id=team_id, name=f"{prefix}-robot"
            ).id
            ids["custom_job"] = custom_jobs.create_custom_job(
                s,
                actor=SYSTEM,
                team_id=team_id,
                name=f"{prefix}-custom",
                release_id=ids["release"],
                image="python:3.12",
                command=["python", "-V"],
            )[0].id
            made[relation] = ids
    for ids in made.values():
        ids["run"] = add_run(ids["job"])
    worlds = {
        relation: TeamWorld(
            relation=relation,
            team=team_ids[relation],
            name=f"{SECRET}-{relation}",
            member=members[relation],  # type: ignore[arg-type]
            algorithm=algorithm,  # type: ignore[arg-type]
            outsider=outsider,  # type: ignore[arg-type]
            **made[relation],
        )
        for relation in RELATIONS
    }
    with session_scope() as s:
        actors = {role: teams.actor_for(s, username=user_name(role)) for role in (*ROLES, SUPERUSER)}
    return PermissionWorld(teams=worlds, actors=actors)


def tokens_of(world: PermissionWorld) -> dict[str, str]:
    """An API token per role (and the superuser's), made with the services in the world's catalog."""
    out = {}
    with session_scope() as s:
        for role, actor in world.actors.items():
            _, out[role] = tokens.create_token(s, actor=actor, name=f"{role}-matrix", days=1)
    return out


def words(message: str, tw: TeamWorld) -> str:
    """``message`` with the team's ids replaced (a refusal naming the id asked for is not a leak)."""
    for value in tw.own_ids():
        message = re.sub(rf"(?<![\w-]){re.escape(value)}(?![\w-])", "<id>", message)
    return message


# ---------------------------------------------------------------- observing one call


@dataclass(frozen=True)
class Outcome:
    """How a call ended: the catalog error (type name and words, ids replaced) or None, and for a list whether
    it showed the team's row."""

    error: str | None
    words: str = ""
    listed: bool | None = None

    def __str__(self) -> str:
        if self.error:
            return f"{self.error}({self.words})"
        return "ok" if self.listed is None else f"ok, {'listed' if self.listed else 'not listed'}"


@dataclass(frozen=True)
class Recipe:
    """How to call a service function on one team's resources. ``listed``: the function lists rows, and this
    says whether a result shows the team's row (a list refuses by leaving it out). ``undo``: undoes, after a
    call that succeeded, what a rolled-back session does not (e.g. a run deleted in MLflow)."""

    call: Callable[[Session, Actor, TeamWorld], object]
    listed: Callable[[Any, TeamWorld], bool] | None = None
    undo: Callable[[TeamWorld], None] | None = None
    # The permission is checked on the team's parent (moving or deleting a team is its parent's business),
    # on the platform (admin:*) for a top-level team; the team itself must still be one the actor sees.
    on_parent: bool = False


def expected_on_parent(permission: str, role: str, relation: str) -> tuple[str, str]:
    """``expected`` of a parent-governed call on ``relation``, and the permission its refusal names."""
    if role == SUPERUSER:
        return ALLOWED, permission
    if expected(None, role, relation) == HIDDEN:
        return HIDDEN, permission
    parent = PARENT_OF.get(relation)
    if parent is None:
        return DENIED, ADMIN
    return (ALLOWED if expected(permission, role, parent) == ALLOWED else DENIED), permission


def observe(recipe: Recipe, actor: Actor, tw: TeamWorld) -> Outcome:
    """Call the recipe in a session that is rolled back, never committed: the world does not change."""
    with Session(get_engine(), expire_on_commit=False) as s:
        try:
            result = recipe.call(s, actor, tw)
            chunks = getattr(result, "chunks", None)
            if inspect.isgenerator(chunks):
                b"".join(chunks)  # a download streams lazily
            listed = None if recipe.listed is None else recipe.listed(result, tw)
        except CatalogError as exc:
            return Outcome(type(exc).__name__, words(str(exc), tw))
        finally:
            s.rollback()
    if recipe.undo is not None:
        recipe.undo(tw)
    return Outcome(None, listed=listed)


def check_function(permission: str, recipe: Recipe, world: PermissionWorld) -> list[str]:
    """Every role on every team against ``expected``; the problems found, one line each."""
    problems: list[str] = []
    missing: dict[str, Outcome] = {}
    for relation, tw in world.teams.items():
        control = observe(recipe, world.actors[SUPERUSER], tw)
        if control.error in ("NotFoundError", "PermissionDeniedError") or control.listed is False:
            problems.append(f"superuser on {relation}: the control call fails: {control}")
            continue
        for role in ROLES:
            named = permission
            if recipe.on_parent:
                want, named = expected_on_parent(permission, role, relation)
            else:
                want = expected(permission, role, relation)
            got = observe(recipe, world.actors[role], tw)
            seen = f"{role} on {relation}: expected {want}, got {got}"
            if want == ALLOWED:
                if got != control:
                    problems.append(f"{seen} (the superuser got {control})")
            elif recipe.listed is not None and got.error is None:
                if got.listed:
                    problems.append(seen)
            elif want == DENIED:
                if got.error != "PermissionDeniedError" or named not in got.words:
                    problems.append(f"{seen} (a PermissionDeniedError naming {named!r})")
            else:
                if role not in missing:
                    missing[role] = observe(
                        recipe, world.actors[role], next(iter(world.teams.values())).missing()
                    )
                if got.error is None or got != missing[role]:
                    problems.append(f"{seen} (as a missing id: {missing[role]})")
                elif SECRET in got.words.lower():
                    problems.append(f"{seen}: the refusal names the hidden team's data")
    return problems
