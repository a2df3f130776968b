"""Administration (superusers only): teams in a tree (created at the top or under a parent, moved, deleted
when empty: a refusal names what is left) and their members with any role (built-in or custom), users,
passwords. The team and user lists are searched and paged in SQL; pickers offer the current page or the
users matching a search."""

from __future__ import annotations

import streamlit as st

from catalog.db import session_scope
from catalog.models import Team, User
from catalog.scoping import Actor
from catalog.services import roles as roles_svc
from catalog.services import team_tree
from catalog.services import teams as svc
from dashboard.views.common import actor, attempt, name_of, records
from dashboard.views.paging import fetch_page, pager, search_box, slice_page
from dashboard.views.team_usage import render_usage

USER_CHOICES = 100  # users offered by a picker; its search finds the others


def render() -> None:
    st.title("Teams and users")
    who, _ = actor()
    if not who.is_superuser:
        st.error("Only administrators may manage teams and users.")
        return
    teams_tab, users_tab = st.tabs(["Teams", "Users"])
    with teams_tab:
        _teams(who)
    with users_tab:
        _users(who)


def _user_choices(who: Actor, key: str) -> list[User]:
    search = st.text_input("Find a user", key=f"{key}_search", placeholder="part of the username")
    with session_scope() as session:
        _, users = svc.page_users(session, actor=who, search=search.strip() or None, limit=USER_CHOICES)
    return users


TOP = "(top level)"


def _teams(who: Actor) -> None:
    with session_scope() as session:
        every = svc.list_teams(session, actor=who)
    # Parent pickers: the top level, then every team by name.
    parents: dict[str, int | None] = {TOP: None, **{f"{t.name} (#{t.id})": t.id for t in every}}
    names = {t.id: t.name for t in every if t.id is not None}
    with st.form("new_team", clear_on_submit=True):
        st.subheader("New team")
        name = st.text_input("Team name")
        description = st.text_input("Description", key="team_description")
        parent = st.selectbox("Parent team", list(parents), key="team_parent")
        if st.form_submit_button("Create team"):

            def create() -> None:
                with session_scope() as session:
                    team_tree.create_team(
                        session, actor=who, name=name, description=description, parent_id=parents[parent]
                    )

            attempt(create, success=f"team {name!r} created")
    search = search_box("adm_teams", "Search teams")

    def fetch(offset: int, limit: int) -> tuple[int, list[Team]]:
        with session_scope() as session:
            return svc.page_teams(session, actor=who, search=search, offset=offset, limit=limit)

    total, teams, _ = fetch_page("adm_teams", fetch)
    if teams:
        st.dataframe(
            records(
                teams,
                ["id", "name", "parent", "description", "created_at"],
                {"parent": lambda t: name_of(names, t.parent_id)},
            ),
            hide_index=True,
        )
    pager("adm_teams", total, noun="team(s)")
    if not teams:
        return
    team = st.selectbox("Team", teams, format_func=lambda t: f"{t.name} (#{t.id})", key="admin_team")
    with session_scope() as session:
        members = svc.list_members(session, actor=who, team_id=team.id)  # type: ignore[arg-type]
    st.subheader(f"Members of {team.name}")
    n_members, shown = slice_page(f"adm_members_{team.id}", members)
    st.dataframe(
        records(shown, ["user_id", "username", "role", "is_superuser", "is_active"]), hide_index=True
    )
    pager(f"adm_members_{team.id}", n_members, noun="member(s)")
    render_usage(who, team.id)
    cols = st.columns(2)
    with cols[0]:
        users = _user_choices(who, "add_member")
        with st.form("add_member", clear_on_submit=True):
            user = st.selectbox("User", users, format_func=lambda u: u.username, key="add_member_user")
            role = st.selectbox("Role", _role_names(who), key="add_member_role")
            if st.form_submit_button("Add member") and user is not None:

                def add() -> None:
                    with session_scope() as session:
                        svc.add_member(session, actor=who, team_id=team.id, user_id=user.id, role=role)  # type: ignore[arg-type]

                attempt(add, success=f"{user.username} is a {role} of {team.name}")
    with cols[1].form("remove_member"):
        member = st.selectbox("Member", members, format_func=lambda m: m.username, key="remove_member_user")
        if st.form_submit_button("Remove member") and member is not None:

            def remove() -> None:
                with session_scope() as session:
                    svc.remove_member(session, actor=who, team_id=team.id, user_id=member.user_id)  # type: ignore[arg-type]

            attempt(remove, success=f"{member.username} removed from {team.name}")
    # Last: the sections above read the team, which a delete here removes.
    st.subheader(f"Place of {team.name} in the tree")
    _place(who, team, parents)


def _role_names(who: Actor) -> list[str]:
    """Every role a membership may have: the built-in ones, then the custom ones."""
    with session_scope() as session:
        return [r.name for r in roles_svc.list_roles(session, actor=who)]


def _place(who: Actor, team: Team, parents: dict[str, int | None]) -> None:
    """Move the team under another parent (or to the top), or delete it; a refusal is shown as it is."""
    cols = st.columns(2)
    with cols[0].form("move_team"):
        choices = [label for label, ident in parents.items() if ident != team.id]
        current = next((i for i, label in enumerate(choices) if parents[label] == team.parent_id), 0)
        target = st.selectbox(f"Move {team.name} under", choices, index=current, key="move_team_parent")
        if st.form_submit_button("Move team"):

            def move() -> None:
                with session_scope() as session:
                    team_tree.move_team(session, actor=who, team_id=team.id, parent_id=parents[target])  # type: ignore[arg-type]

            attempt(move, success=f"team {team.name!r} moved under {target}")
    with cols[1].form("delete_team"):
        st.caption(f"Delete {team.name}: refused while it has sub-teams, datasets, jobs or servings.")
        confirmed = st.checkbox(f"Yes, delete {team.name}", key="delete_team_confirm")
        if st.form_submit_button("Delete team") and confirmed:

            def delete() -> None:
                with session_scope() as session:
                    team_tree.delete_team(session, actor=who, team_id=team.id)  # type: ignore[arg-type]

            attempt(delete, success=f"team {team.name!r} deleted")


def _users(who: Actor) -> None:
    search = search_box("adm_users", "Search users", placeholder="part of the username")

    def fetch(offset: int, limit: int) -> tuple[int, list[User]]:
        with session_scope() as session:
            return svc.page_users(session, actor=who, search=search, offset=offset, limit=limit)

    total, users, _ = fetch_page("adm_users", fetch)
    if users:
        st.dataframe(
            records(
                users,
                [
                    "id",
                    "username",
                    "is_superuser",
                    "is_active",
                    "failed_logins",
                    "locked_until",
                    "created_at",
                ],
            ),
            hide_index=True,
        )
    pager("adm_users", total, noun="user(s)")
    with session_scope() as session:
        teams = svc.list_teams(session, actor=who)
    with st.form("new_user", clear_on_submit=True):
        st.subheader("New user")
        username = st.text_input("Username", key="new_username")
        password = st.text_input("Password", type="password", key="new_password")
        superuser = st.checkbox("Administrator (sees and manages everything)", key="new_superuser")
        joined = st.multiselect("Teams", teams, format_func=lambda t: t.name, key="new_user_teams")
        if st.form_submit_button("Create user"):

            def create() -> None:
                with session_scope() as session:
                    user = svc.create_user(
                        session, actor=who, username=username, password=password, is_superuser=superuser
                    )
                    for team in joined:
                        svc.add_member(session, actor=who, team_id=team.id, user_id=user.id)  # type: ignore[arg-type]

            attempt(create, success=f"user {username!r} created")
    if not users:
        return
    with st.form("set_password", clear_on_submit=True):
        st.subheader("Set a password")
        user = st.selectbox("User", users, format_func=lambda u: u.username, key="password_user")
        password = st.text_input("New password", type="password", key="password_value")
        st.caption(
            "Setting a password also lifts a lockout (users of the page shown above; search to find others)."
        )
        if st.form_submit_button("Set password") and user is not None:

            def set_password() -> None:
                with session_scope() as session:
                    svc.set_password(session, actor=who, user_id=user.id, password=password)  # type: ignore[arg-type]

            attempt(set_password, success=f"password of {user.username} set")
