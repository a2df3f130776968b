"""Audit log (superusers only): every mutating action with who, team, what, which resource, when, outcome."""

from __future__ import annotations

import streamlit as st

from catalog.db import session_scope
from catalog.services import audit as svc
from catalog.services import teams as teams_svc
from dashboard.views.common import actor, records

FIELDS = ["id", "at", "actor_name", "team_id", "action", "resource_type", "resource_id", "outcome", "detail"]
PAGE_SIZE = 100


def render() -> None:
    st.title("Audit log")
    who, _ = actor()
    if not who.is_superuser:
        st.error("Only administrators may read the audit log.")
        return
    with session_scope() as session:
        teams = teams_svc.list_teams(session, actor=who)
    cols = st.columns(4)
    action = cols[0].text_input("Action", placeholder="e.g. dataset.create", key="audit_action").strip()
    resource_type = cols[1].text_input("Resource type", placeholder="e.g. dataset", key="audit_type").strip()
    names = {t.id: t.name for t in teams}
    team_id = cols[2].selectbox("Team", [None, *names], format_func=lambda i: "all" if i is None else names[i],
                                key="audit_team")
    username = cols[3].text_input("User", key="audit_user").strip()
    page = int(st.number_input("Page", min_value=1, value=1, step=1, key="audit_page"))
    with session_scope() as session:
        total, events = svc.list_events(session, actor=who, action=action or None,
                                        resource_type=resource_type or None, team_id=team_id,
                                        actor_name=username or None, offset=(page - 1) * PAGE_SIZE,
                                        limit=PAGE_SIZE)
    st.caption(f"{total} event(s); page {page} of {max(1, -(-total // PAGE_SIZE))}")
    rows = records(events, FIELDS)
    for row in rows:
        row["team"] = names.get(row["team_id"], row["team_id"])
    st.dataframe(rows, hide_index=True)
