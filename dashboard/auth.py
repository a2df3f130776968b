"""Dashboard sign-in: who this browser session acts as, and in which team.

A login lives in Streamlit's server-side session state (never in the browser), checked with argon2 by
``catalog.services.teams.authenticate`` (which also counts failures and locks the account). It expires after
``SESSION_HOURS``. On every rerun the actor is rebuilt from the catalog, so a disabled account or a removed
membership takes effect at once.

The current team: a user in several teams picks one with the switcher and then acts *in that team only*
(the session's Actor carries just that team, so every list, filtered by ``catalog.scoping``, shows that
team's resources). Superusers stay unfiltered and see everything; their current team is where they create.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import streamlit as st

from catalog.db import session_scope
from catalog.errors import NotFoundError, PermissionDeniedError
from catalog.models import Team
from catalog.scoping import Actor
from catalog.services import teams as teams_service

LOGIN_KEY = "mlops_login"
# Set by dashboard/app.py before anything renders: inside the app a page never acts without a login.
GATE_KEY = "mlops_gated"
SESSION_HOURS = 12.0


@dataclass(frozen=True)
class Login:
    username: str
    team_id: int | None
    signed_in_at: float


def sign_in(username: str, password: str) -> Login:
    """Check the password (PermissionDeniedError with the user-facing reason on failure) and remember the login."""
    with session_scope() as session:
        user = teams_service.authenticate(session, username=username, password=password)
        actor = teams_service.actor_for(session, username=user.username)
    login = Login(username=user.username, team_id=actor.current_team_id, signed_in_at=time.time())
    st.session_state[LOGIN_KEY] = login
    return login


def sign_out() -> None:
    st.session_state.pop(LOGIN_KEY, None)


def current_login() -> Login | None:
    login = st.session_state.get(LOGIN_KEY)
    if not isinstance(login, Login):
        return None
    if time.time() - login.signed_in_at > SESSION_HOURS * 3600:
        sign_out()
        return None
    return login


def full_actor(login: Login) -> Actor:
    """The user with all their teams (for the switcher), current team as chosen when still allowed."""
    with session_scope() as session:
        try:
            return teams_service.actor_for(session, username=login.username, current_team_id=login.team_id)
        except NotFoundError:
            # The current team is gone or the user left it: fall back to their first team. A user that no
            # longer exists raises again here and is signed out by the caller.
            return teams_service.actor_for(session, username=login.username)


def session_actor() -> tuple[Actor, int | None] | None:
    """The acting Actor of this session, narrowed to the current team for non-superusers; None if signed out."""
    login = current_login()
    if login is None:
        return None
    try:
        full = full_actor(login)
    except (NotFoundError, PermissionDeniedError):
        sign_out()  # deleted or disabled since the login
        return None
    if full.current_team_id != login.team_id:
        st.session_state[LOGIN_KEY] = replace(login, team_id=full.current_team_id)
    if full.is_superuser:
        return full, full.current_team_id
    team_ids = frozenset({full.current_team_id}) if full.current_team_id is not None else frozenset()
    return replace(full, team_ids=team_ids), full.current_team_id


def switch_team(team_id: int) -> int:
    """Make ``team_id`` the current team; a team the user is not in is refused like a missing one."""
    login = current_login()
    if login is None:
        raise PermissionDeniedError("sign in first")
    with session_scope() as session:
        teams_service.actor_for(session, username=login.username, current_team_id=team_id)
    st.session_state[LOGIN_KEY] = replace(login, team_id=team_id)
    return team_id


def switchable_teams(login: Login) -> list[Team]:
    """The teams the user may switch to: their memberships (every team for a superuser)."""
    with session_scope() as session:
        return teams_service.list_teams(session, actor=full_actor(login))
