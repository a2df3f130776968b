"""Audit log (superusers only): every mutating action with who, team, what, which resource, when, outcome;
filtered by action, resource type, team, user and outcome, and paged in SQL."""

from __future__ import annotations

import streamlit as st

from catalog.db import session_scope
from catalog.models import AuditEvent
from catalog.services import audit as svc
from catalog.services import teams as teams_svc
from dashboard.views.common import actor, records
from dashboard.views.paging import fetch_page, page_key, pager

FIELDS = ["id", "at", "actor_name", "team_id", "action", "resource_type", "resource_id", "outcome", "detail"]
OUTCOMES = [None, "ok", "denied", "error"]


def render() -> None:
    st.title("Audit log")
    who, _ = actor()
    if not who.is_superuser:
        st.error("Only administrators may read the audit log.")
        return
    with session_scope() as session:
        teams = teams_svc.list_teams(session, actor=who)
    names = {t.id: t.name for t in teams}
    # Any filter change returns the list to its first page.
    reset = {"on_change": lambda: st.session_state.pop(page_key("audit"), None)}
    cols = st.columns(5)
    action = cols[0].text_input("Action", placeholder="e.g. dataset.create", key="audit_action", **reset).strip()
    resource_type = cols[1].text_input("Resource type", placeholder="e.g. dataset", key="audit_type",
                                       **reset).strip()
    team_id = cols[2].selectbox("Team", [None, *names], format_func=lambda i: "all" if i is None else names[i],
                                key="audit_team", **reset)
    username = cols[3].text_input("User", key="audit_user", **reset).strip()
    outcome = cols[4].selectbox("Outcome", OUTCOMES, format_func=lambda o: "any" if o is None else o,
                                key="audit_outcome", **reset)

    def fetch(offset: int, limit: int) -> tuple[int, list[AuditEvent]]:
        with session_scope() as session:
            return svc.list_events(session, actor=who, action=action or None, resource_type=resource_type or None,
                                   team_id=team_id, actor_name=username or None, outcome=outcome, offset=offset,
                                   limit=limit)

    total, events, _ = fetch_page("audit", fetch)
    rows = records(events, FIELDS)
    for row in rows:
        row["team"] = names.get(row["team_id"], row["team_id"])
    if rows:
        st.dataframe(rows, hide_index=True)
    pager("audit", total, noun="event(s)")
