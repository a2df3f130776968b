"""Sign-in page: username and password, checked with argon2; failures and lockouts explained, never which
of username or password was wrong."""

from __future__ import annotations

import streamlit as st

from catalog.errors import PermissionDeniedError
from dashboard import auth


def render() -> None:
    st.title("Sign in to mlops-lite")
    with st.form("sign_in"):
        username = st.text_input("Username", key="login_username")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in")
    if not submitted:
        return
    if not username or not password:
        st.error("Enter your username and password.")
        return
    try:
        auth.sign_in(username, password)
    except PermissionDeniedError as exc:
        # The catalog's message: "invalid username or password", or the lockout with the minutes left.
        st.error(str(exc))
        return
    st.rerun()
