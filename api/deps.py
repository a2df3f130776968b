"""Request dependencies: a catalog session per request and the caller's Actor from their bearer token.

Who calls is decided here and nowhere else: ``Authorization: Bearer <token>`` is a platform token
(``catalog.services.tokens``) or, when an issuer is configured, an OIDC JWT (``api.oidc``). Nothing else
a caller sends (a header naming a user or a team, a tag) is trusted for identity. The Actor is rebuilt from
the catalog on every request, so a disabled account or a removed membership takes effect at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from sqlmodel import Session

from api.errors import ApiError
from catalog.db import session_scope
from catalog.errors import NotFoundError, PermissionDeniedError
from catalog.models import Team
from catalog.permissions import ADMIN
from catalog.scoping import Actor
from catalog.services import teams as teams_service
from catalog.services import tokens as tokens_service
from infra.settings import get_settings

NO_TOKEN = "this endpoint needs a token: send 'Authorization: Bearer <token>' (`mlops login`, or a token from `mlops tokens create`)"


def get_session() -> Iterator[Session]:
    with session_scope() as session:
        yield session


# scope="function": committed before the answer is sent (the default, "request", commits after it, so a client
# acting on the answer at once could miss its own write).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, NO_TOKEN)
    return token.strip()


def _caller(session: Session, token: str) -> tuple[str, frozenset[str] | None]:
    """The username a token acts as and the permissions it is narrowed to (None: all of the user's)."""
    if token.startswith("mlops_"):
        try:
            bearer = tokens_service.authenticate(session, token=token)
        except PermissionDeniedError as exc:
            raise ApiError(401, str(exc)) from None
        return bearer.user.username, bearer.permissions
    if get_settings().api.oidc_issuer:
        from api import oidc

        return oidc.username_for(session, token), None
    raise ApiError(401, tokens_service.INVALID)


def current_actor(request: Request) -> Actor:
    """The caller, checked in its own short transaction (so the token's last use is kept even when the
    endpoint's work fails and rolls back)."""
    token = bearer_token(request)
    with session_scope() as session:
        username, permissions = _caller(session, token)
        try:
            actor = teams_service.actor_for(session, username=username, permissions=permissions)
        except PermissionDeniedError as exc:
            raise ApiError(401, str(exc)) from None
    request.state.actor = actor
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]


def admin_actor(actor: ActorDep) -> Actor:
    if not actor.can(ADMIN):  # a superuser's token narrowed below admin:* is not an administrator's
        raise ApiError(403, f"only an administrator may do this (permission {ADMIN!r})")
    return actor


AdminDep = Annotated[Actor, Depends(admin_actor)]


def team_for_create(actor: Actor, team_id: int | None) -> int:
    """The team a new resource goes to: the one asked for (which the actor must see), else the actor's first."""
    if team_id is not None:
        actor.require_team(team_id)
        if actor.is_superuser:  # an administrator sees every team: one that does not exist reads as such
            with session_scope() as session:
                if session.get(Team, team_id) is None:
                    raise NotFoundError("team", team_id)
        return team_id
    if actor.current_team_id is None:
        raise ApiError(
            422, "no team: pass team_id, or ask an administrator to add you to a team", "validation_error"
        )
    return actor.current_team_id


# A path id: a database integer, so a huge or negative number is a clear 422 rather than a database error.
IdPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="Id of the resource.")]


@dataclass(frozen=True, slots=True)
class TeamQuery:
    """A list's team filter (``catalog.scoping.team_filter`` decides what it stands for)."""

    team_id: int | None
    include_children: bool


def team_query(
    team_id: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="Only rows of this team (one you see).")
    ] = None,
    include_children: Annotated[
        bool,
        Query(
            description="With team_id: the rows of the teams below it too (never of siblings or ancestors)."
        ),
    ] = False,
) -> TeamQuery:
    return TeamQuery(team_id, include_children)


TeamFilter = Annotated[TeamQuery, Depends(team_query)]
