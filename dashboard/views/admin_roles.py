"""Administration (superusers only): roles. Every role a membership may have (the built-in ones and the custom
ones, with their permissions and whether they reach sub-teams); custom roles created and deleted (a role still
held by a membership is refused, saying by how many). Calls ``catalog.services.roles``."""

from __future__ import annotations

import streamlit as st

from catalog.db import session_scope
from catalog.permissions import ADMIN, KINDS, PERMISSIONS
from catalog.services import roles as svc
from dashboard.views.common import actor, attempt

# What a custom role may hold: every permission on teams, and each kind's wildcard (never admin:*).
CHOICES = [p for p in PERMISSIONS if p != ADMIN] + sorted(f"{k}:*" for k in KINDS if f"{k}:*" != ADMIN)


def render() -> None:
    st.title("Roles")
    who, _ = actor()
    if not who.is_superuser:
        st.error("Only administrators may manage roles.")
        return
    with st.form("new_role", clear_on_submit=True):
        st.subheader("New role")
        name = st.text_input("Role name", key="role_name", placeholder="lowercase, e.g. data-steward")
        permissions = st.multiselect(
            "Permissions", CHOICES, key="role_permissions", format_func=lambda p: f"{p} — {_meaning(p)}"
        )
        children = st.checkbox(
            "Its permissions reach the sub-teams of the member's team", key="role_children"
        )
        description = st.text_input("Description", key="role_description")
        if st.form_submit_button("Create role"):

            def create() -> None:
                with session_scope() as session:
                    svc.create_role(
                        session,
                        actor=who,
                        name=name,
                        permissions=permissions,
                        includes_children=children,
                        description=description,
                    )

            attempt(create, success=f"role {name!r} created")
    # Read after the form: a role it just created is listed at once.
    with session_scope() as session:
        roles = svc.list_roles(session, actor=who)
    st.dataframe(
        [
            {
                "name": r.name,
                "built in": r.builtin,
                "reaches sub-teams": r.includes_children,
                "permissions": ", ".join(sorted(r.permissions)),
                "description": r.description,
            }
            for r in roles
        ],
        hide_index=True,
    )
    custom = [r.name for r in roles if not r.builtin]
    if not custom:
        return
    with st.form("delete_role"):
        st.subheader("Delete a role")
        picked = st.selectbox("Role", custom, key="delete_role_name")
        if st.form_submit_button("Delete role") and picked is not None:

            def delete() -> None:
                with session_scope() as session:
                    svc.delete_role(session, actor=who, name=picked)

            attempt(delete, success=f"role {picked!r} deleted")


def _meaning(permission: str) -> str:
    kind = permission.partition(":")[0]
    return PERMISSIONS.get(permission) or f"every {kind} permission"
