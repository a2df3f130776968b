"""Shared page helpers: the acting user, the current scenario, errors shown instead of raised."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from catalog.errors import CatalogError
from catalog.scenarios import Scenario
from catalog.scoping import Actor

T = TypeVar("T")


def actor() -> tuple[Actor, int | None]:
    """The acting user (login arrives with the organizations work; until then the configured user)."""
    from catalog.db import session_scope
    from catalog.services import teams as teams_service
    from infra.settings import get_settings

    username = st.session_state.get("username") or os.environ.get("MLOPS_USER") or \
        get_settings().platform.admin_username
    with session_scope() as session:
        who = teams_service.actor_for(session, username=username)
    team_id = who.current_team_id or (min(who.team_ids) if who.team_ids else None)
    return who, team_id


def scenario_picker(key: str) -> str:
    options = [s.value for s in Scenario]
    return str(st.selectbox("Scenario", options, key=key, format_func=lambda v: Scenario(v).display_name))


def attempt(fn: Callable[[], T], *, success: str | None = None) -> T | None:
    """Run an action; show a catalog error as a message instead of a traceback."""
    try:
        result = fn()
    except (CatalogError, ValueError, LookupError, RuntimeError, TimeoutError) as exc:
        st.error(str(exc))
        return None
    if success:
        st.success(success)
    return result


def records(rows: list[Any], fields: list[str]) -> list[dict[str, Any]]:
    return [{f: getattr(r, f, None) for f in fields} for r in rows]
