"""Shared page helpers: the acting user and team (from the sign-in), the team switcher, the current scenario,
errors shown instead of raised, pickers whose pick survives a status change, names shown for ids."""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import streamlit as st

from catalog.errors import CatalogError
from catalog.scenarios import Scenario
from catalog.scoping import Actor

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def actor() -> tuple[Actor, int | None]:
    """The signed-in actor (narrowed to the current team unless a superuser) and the current team id.

    Inside the app (dashboard/app.py sets the gate before any page runs) there is no acting without a
    login: the page stops. A page rendered on its own, outside the app (the page tests), acts as the
    operator's configured user (MLOPS_USER, else the admin), as the CLI does.
    """
    from dashboard import auth

    current = auth.session_actor()
    if current is not None:
        return current
    if st.session_state.get(auth.GATE_KEY):
        st.info("Please sign in.")
        st.stop()
    return _operator_actor()


def _operator_actor() -> tuple[Actor, int | None]:
    from catalog.db import session_scope
    from catalog.services import teams as teams_service
    from infra.settings import get_settings

    username = os.environ.get("MLOPS_USER") or get_settings().platform.admin_username
    with session_scope() as session:
        who = teams_service.actor_for(session, username=username)
    return who, who.current_team_id


def team_switcher() -> None:
    """Sidebar: who is signed in, the current team (a picker when there is a choice), and sign out."""
    from dashboard import auth

    login = auth.current_login()
    if login is None:
        return
    current = auth.session_actor()
    if current is None:
        st.rerun()  # signed out because the account was disabled or deleted
        return
    who, team_id = current
    teams = auth.switchable_teams(login)
    st.sidebar.caption(f"Signed in as **{who.username}**" + (" (administrator)" if who.is_superuser else ""))
    if len(teams) > 1:
        ids = [t.id for t in teams]
        names = {t.id: t.name for t in teams}
        chosen = st.sidebar.selectbox(
            "Team",
            ids,
            index=ids.index(team_id) if team_id in ids else 0,
            format_func=lambda i: names[i],
            key="team_switcher",
        )
        if chosen != team_id and attempt(lambda: auth.switch_team(int(chosen))) is not None:  # type: ignore[arg-type]
            st.rerun()
    elif teams:
        st.sidebar.caption(f"Team: {teams[0].name}")
    else:
        st.sidebar.warning("You belong to no team yet; ask an administrator.")
    if st.sidebar.button("Sign out", key="sign_out"):
        auth.sign_out()
        st.rerun()


def scenario_picker(key: str) -> str:
    options = [s.value for s in Scenario]
    return str(st.selectbox("Scenario", options, key=key, format_func=lambda v: Scenario(v).display_name))


def page_scenario(scenario: str | None, key: str) -> str:
    """The page's scenario: fixed by the navigation entry the page was opened from, or (a page rendered on its
    own) chosen with a picker."""
    if scenario is None:
        return scenario_picker(key)
    st.caption(Scenario(scenario).display_name)
    return scenario


def when(value: datetime | None) -> str:
    """A timestamp for people: UTC, to the second."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def plain(value: Any) -> Any:
    """``value`` with datetimes formatted, for st.json (which would show ``datetime.datetime(...)``)."""
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


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


def records(
    rows: list[Any], fields: list[str], computed: Mapping[str, Callable[[Any], Any]] | None = None
) -> list[dict[str, Any]]:
    """Table rows of the given fields, datetimes formatted; a field in ``computed`` is that function of the row
    (e.g. a name shown for an id)."""
    computed = computed or {}
    return [
        {f: plain(computed[f](r) if f in computed else getattr(r, f, None)) for f in fields} for r in rows
    ]


def name_of(names: Mapping[int, str], ident: int | None) -> str:
    """The name ``catalog.services.names`` found for ``ident``; ``#ident`` when it found none (the row is gone,
    or not the reader's to see), so the table still says which row it was."""
    if ident is None:
        return ""
    return names.get(ident, f"#{ident}")


def stable_picker(label: str, items: Mapping[K, T], describe: Callable[[T], str], *, key: str) -> T:
    """A select box over ``items`` (non-empty) by their ids, each labelled by ``describe`` — only what never
    changes (name, version, id). The browser keeps a pick as its label: a label carrying a status stopped
    matching when the status changed, and Streamlit fell back to the first row. Returns the picked item (the
    first when the pick is no longer among ``items``)."""
    picked = st.selectbox(
        label, list(items), key=key, format_func=lambda i: describe(items[i]) if i in items else f"#{i}"
    )
    return items[picked] if picked in items else next(iter(items.values()))
