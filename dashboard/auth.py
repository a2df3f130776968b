"""Dashboard sign-in: who this browser session acts as, and in which team.

A login lives in Streamlit's server-side session state, checked with argon2 by
``catalog.services.teams.authenticate`` (which also counts failures and locks the account). It lasts
``MLOPS_DASHBOARD_SESSION_HOURS``. On every rerun the actor is rebuilt from the catalog, so a disabled account
or a removed membership takes effect at once.

Surviving a browser reload: a reload starts a new Streamlit session with empty state, so the login is also
carried in the URL as a signed token (query parameter ``session``): ``username, current team, expiry``
signed with HMAC-SHA256 under a key derived from the server secret and the user's password hash
(``catalog.services.sessions``), so the catalog alone cannot mint one.
A reload (or a bookmark) presents it back and the login resumes without the password. A token that was
altered or has expired, or any token after the user's password changed, is refused (the sign-in page
shows). Signing out removes it from the URL and revokes it in the catalog (until it would have expired), so
the sign-out holds in every dashboard process and after restarts. Like any bearer link, a URL carrying a
token must not be shared; it expires with the session.

The current team: a user in several teams picks one with the switcher and then acts *in that team only*
(the session's Actor carries just that team, so every list, filtered by ``catalog.scoping``, shows that
team's resources). Superusers stay unfiltered and see everything; their current team is where they create.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import time
from dataclasses import dataclass, replace

import streamlit as st

from catalog.db import session_scope
from catalog.errors import NotFoundError, PermissionDeniedError
from catalog.models import Team
from catalog.scoping import Actor
from catalog.services import sessions as sessions_service
from catalog.services import teams as teams_service
from infra.settings import get_settings

LOGIN_KEY = "mlops_login"
# Set by dashboard/app.py before anything renders: inside the app a page never acts without a login.
GATE_KEY = "mlops_gated"
TOKEN_PARAM = "session"

SIGNING_PURPOSE = "dashboard"


@dataclass(frozen=True)
class Login:
    username: str
    team_id: int | None
    signed_in_at: float
    expires_at: float = 0.0
    token: str = ""


# ---------------------------------------------------------------- signed session tokens


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: bytes, username: str) -> bytes:
    with session_scope() as session:
        password_hash = teams_service.get_user(session, username=username).password_hash
    return sessions_service.sign(payload, password_hash=password_hash, purpose=SIGNING_PURPOSE)


def issue_token(login: Login) -> str:
    # The nonce makes every token distinct: one revoked at a team switch never comes back with a switch back.
    payload = json.dumps(
        {"u": login.username, "t": login.team_id, "e": int(login.expires_at), "n": secrets.token_urlsafe(8)},
        separators=(",", ":"),
    ).encode()
    return f"{_b64(payload)}.{_b64(_sign(payload, login.username))}"


def revoke_token(token: str, expires_at: float) -> None:
    with session_scope() as session:
        sessions_service.revoke(session, token=token, expires_at=expires_at)


def read_token(token: str) -> Login | None:
    """The login a token carries if its signature (under the user's current password hash) and expiry hold
    and it was not signed out."""
    with session_scope() as session:
        if sessions_service.is_revoked(session, token=token):
            return None
    try:
        body, signature = token.split(".", 1)
        payload = _unb64(body)
        data = json.loads(payload)
        username, team_id, expires_at = data["u"], data["t"], float(data["e"])
    except (ValueError, KeyError, TypeError):  # malformed base64, JSON or fields
        return None
    if not isinstance(username, str) or (team_id is not None and not isinstance(team_id, int)):
        return None
    try:
        if not hmac.compare_digest(_sign(payload, username), _unb64(signature)):
            return None
    except (NotFoundError, ValueError):
        return None
    if expires_at <= time.time():
        return None
    hours = get_settings().dashboard.session_hours
    return Login(
        username=username,
        team_id=team_id,
        signed_in_at=expires_at - hours * 3600,
        expires_at=expires_at,
        token=token,
    )


def resume_from_url() -> Login | None:
    """Resume the login carried by the URL's token, when this session has none (a reload or a bookmark)."""
    if current_login() is not None:
        return current_login()
    token = st.query_params.get(TOKEN_PARAM)
    if not token:
        return None
    login = read_token(token)
    if login is None:
        st.query_params.pop(TOKEN_PARAM, None)
        return None
    st.session_state[LOGIN_KEY] = login
    return login


def keep_in_url() -> None:
    """Put the current login's token in the URL (a page switch may have dropped it)."""
    login = current_login()
    if login is not None and login.token and st.query_params.get(TOKEN_PARAM) != login.token:
        st.query_params[TOKEN_PARAM] = login.token


def _remember(login: Login) -> Login:
    """Keep the login in the session with a fresh token (the one it replaces is revoked: one live token)."""
    if login.token:
        revoke_token(login.token, login.expires_at)
    login = replace(login, token=issue_token(login))
    st.session_state[LOGIN_KEY] = login
    return login


# ---------------------------------------------------------------- sign-in and the acting user


def sign_in(username: str, password: str) -> Login:
    """Check the password (PermissionDeniedError with the user-facing reason on failure) and remember the login."""
    with session_scope() as session:
        user = teams_service.authenticate(session, username=username, password=password)
        actor = teams_service.actor_for(session, username=user.username)
    now = time.time()
    login = Login(
        username=user.username,
        team_id=actor.current_team_id,
        signed_in_at=now,
        expires_at=now + get_settings().dashboard.session_hours * 3600,
    )
    return _remember(login)


def sign_out() -> None:
    login = st.session_state.pop(LOGIN_KEY, None)
    if isinstance(login, Login) and login.token:
        revoke_token(login.token, login.expires_at)
    st.query_params.pop(TOKEN_PARAM, None)


def current_login() -> Login | None:
    login = st.session_state.get(LOGIN_KEY)
    if not isinstance(login, Login):
        return None
    if time.time() >= login.expires_at:
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
        _remember(replace(login, team_id=full.current_team_id))
    if full.is_superuser:
        return full, full.current_team_id
    return full.within(full.current_team_id), full.current_team_id


def switch_team(team_id: int) -> int:
    """Make ``team_id`` the current team; a team the user is not in is refused like a missing one."""
    login = current_login()
    if login is None:
        raise PermissionDeniedError("sign in first")
    with session_scope() as session:
        teams_service.actor_for(session, username=login.username, current_team_id=team_id)
    _remember(replace(login, team_id=team_id))
    return team_id


def switchable_teams(login: Login) -> list[Team]:
    """The teams the user may switch to: their memberships (every team for a superuser)."""
    with session_scope() as session:
        return teams_service.list_teams(session, actor=full_actor(login))
