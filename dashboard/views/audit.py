"""Audit log: every mutating action (and every refusal) with who, team, what, which resource, when, outcome;
filtered by action, resource type, team, user and outcome, and paged in SQL. Administrators read every team's;
others the events of the teams where they hold ``audit:read`` (members and up); a user who holds it nowhere
is told why instead."""

from __future__ import annotations

import streamlit as st

from catalog.db import session_scope
from catalog.models import AuditEvent
from catalog.scoping import Actor
from catalog.services import audit as svc
from catalog.services import names as names_svc
from catalog.services import teams as teams_svc
from dashboard.permissions import anywhere, gate
from dashboard.views.common import actor, name_of, records
from dashboard.views.paging import fetch_page, page_key, pager

FIELDS = ["id", "at", "actor_name", "team", "action", "resource_type", "resource", "outcome", "detail"]
OUTCOMES = [None, "ok", "denied", "error"]


def event_rows(who: Actor, events: list[AuditEvent], teams: dict[int, str]) -> list[dict[str, object]]:
    """The log's rows: the team by name, and the resource by its name (a release as ``dataset version``; the
    page's resources looked up at once, one query per type); a resource without one keeps its id."""
    with session_scope() as session:
        resources = names_svc.resource_names(
            session, actor=who, resources=[(e.resource_type, e.resource_id) for e in events]
        )

    def resource(e: AuditEvent) -> str | None:
        if e.resource_id is None:
            return None
        return resources.get((e.resource_type, e.resource_id), f"#{e.resource_id}")

    return records(events, FIELDS, {"team": lambda e: name_of(teams, e.team_id), "resource": resource})


def render() -> None:
    st.title("Audit log")
    who, team_id = actor()
    if not anywhere(who, "audit:read"):
        st.info(f"The audit log is not shown: {gate(who, 'audit:read', team_id).refusal}.", icon="🔒")
        return
    readable = who.teams_with("audit:read")  # None: every team (an administrator)
    with session_scope() as session:
        teams = teams_svc.list_teams(session, actor=who)
    names = {t.id: t.name for t in teams if readable is None or t.id in readable}
    # Any filter change returns the list to its first page.
    reset = {"on_change": lambda: st.session_state.pop(page_key("audit"), None)}
    cols = st.columns(5)
    action = (
        cols[0].text_input("Action", placeholder="e.g. dataset.create", key="audit_action", **reset).strip()
    )
    resource_type = (
        cols[1].text_input("Resource type", placeholder="e.g. dataset", key="audit_type", **reset).strip()
    )
    team_id = cols[2].selectbox(
        "Team",
        [None, *names],
        format_func=lambda i: "all" if i is None else names[i],
        key="audit_team",
        **reset,
    )
    username = cols[3].text_input("User", key="audit_user", **reset).strip()
    outcome = cols[4].selectbox(
        "Outcome", OUTCOMES, format_func=lambda o: "any" if o is None else o, key="audit_outcome", **reset
    )

    def fetch(offset: int, limit: int) -> tuple[int, list[AuditEvent]]:
        with session_scope() as session:
            return svc.list_events(
                session,
                actor=who,
                action=action or None,
                resource_type=resource_type or None,
                team_id=team_id,
                actor_name=username or None,
                outcome=outcome,
                offset=offset,
                limit=limit,
            )

    total, events, _ = fetch_page("audit", fetch)
    rows = event_rows(who, events, names)
    if rows:
        st.dataframe(rows, hide_index=True)
    pager("audit", total, noun="event(s)")
