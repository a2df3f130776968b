"""API tokens of the signed-in user (every user, not only administrators): create a personal access token for
scripts, the SDK or `mlops` on another machine (shown once, right after it is made: the platform keeps only its
hash), optionally narrowed to some of the user's permissions, list them (with `mlops login` ones) and revoke
one at once. Calls ``catalog.services.tokens``."""

from __future__ import annotations

from typing import Any

import streamlit as st

from catalog.db import session_scope
from catalog.models import ApiToken
from catalog.models.base import utcnow
from catalog.permissions import PERMISSIONS, implies
from catalog.scoping import Actor
from catalog.services import tokens as svc
from dashboard.views.common import actor, attempt, records, stable_picker
from dashboard.views.paging import pager, slice_page
from infra.settings import get_settings

FIELDS = [
    "id",
    "name",
    "kind",
    "prefix",
    "state",
    "permissions",
    "created_at",
    "expires_at",
    "last_used_at",
    "revoked_at",
]


def scope(token: ApiToken) -> str:
    return ", ".join(token.permissions) if token.permissions is not None else "all of yours"


def held(who: Actor) -> list[str]:
    """The permissions a token of this user may be narrowed to: those held on some team (every one for an
    administrator), within the current session's own narrowing."""
    return [
        p
        for p in PERMISSIONS
        if (who.is_superuser or any(implies(perms, p) for perms in who.grants.values()))
        and (who.ceiling is None or implies(who.ceiling, p))
    ]


def state(token: ApiToken) -> str:
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if token.expires_at <= utcnow() else "active"


def _tokens(who: Actor) -> list[ApiToken]:
    with session_scope() as session:
        return svc.list_tokens(session, actor=who)


def _create(who: Actor) -> None:
    settings = get_settings().api
    with st.form("new_token", clear_on_submit=True):
        st.subheader("New token")
        name = st.text_input("Token name", key="token_name", placeholder="what it is for, e.g. ci-nightly")
        days = st.number_input(
            "Valid for (days)",
            min_value=1,
            max_value=int(svc.MAX_DAYS),
            value=min(int(settings.token_days), svc.MAX_DAYS),
            key="token_days",
        )
        narrowed = st.multiselect(
            "Only these permissions (optional)",
            held(who),
            key="token_permissions",
            help="Leave empty for a token that acts with all of your permissions.",
        )
        if not st.form_submit_button("Create token"):
            return

    def create() -> tuple[str, str]:
        with session_scope() as session:
            row, plain = svc.create_token(
                session, actor=who, name=name, days=float(days), permissions=narrowed or None
            )
            return row.name, plain

    created = attempt(create)
    if created is None:
        return
    # Shown in this run only: the next rerun of the page has no way to show it again.
    token_name, plain = created
    st.success(f"Token {token_name!r} created. Copy it now: it is shown only once.")
    st.code(plain, language=None)
    st.caption(
        "Send it as `Authorization: Bearer <token>`, or `export MLOPS_TOKEN=<token>` for the SDK and `mlops`."
    )


def _revoke(who: Actor, tokens: list[ApiToken]) -> bool:
    """A picker of the live tokens and a revoke button; whether one was revoked."""
    live: dict[int, Any] = {t.id: t for t in tokens if state(t) == "active"}  # type: ignore[misc]
    if not live:
        return False
    with st.form("revoke_token"):
        st.subheader("Revoke a token")
        picked = stable_picker(
            "Token", live, lambda t: f"{t.name} ({t.prefix}…, #{t.id})", key="revoke_token_id"
        )
        if not st.form_submit_button("Revoke token"):
            return False

    def revoke() -> bool:
        with session_scope() as session:
            svc.revoke_token(session, actor=who, token_id=picked.id)
        return True

    return attempt(revoke, success=f"token {picked.name!r} revoked: it no longer works") is True


def render() -> None:
    st.title("API tokens")
    who, _ = actor()
    st.caption(
        f"Tokens act as you ({who.username}) through the platform API: scripts, the Python SDK, and `mlops` "
        "on another machine. Keep them secret; revoke one you no longer need."
    )
    _create(who)
    tokens = _tokens(who)
    if _revoke(who, tokens):
        tokens = _tokens(who)
    st.subheader("Your tokens")
    total, shown = slice_page("api_tokens", tokens)
    if shown:
        st.dataframe(records(shown, FIELDS, {"state": state, "permissions": scope}), hide_index=True)
    pager("api_tokens", total, noun="token(s)")
