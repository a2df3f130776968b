"""The Streamlit dashboard: one multipage app. Sign-in first (resumed from the URL's signed token after a
reload); then the sidebar holds the current team and its switcher, and the navigation
(``dashboard.navigation``): the overview, one section per scenario with its Datasets, Training, Serving and
Sandbox pages, the Account section (the user's API tokens), for administrators the Admin section
(algorithms, teams and users, audit log), for other users who may read it the Team section (the audit log).
What the user may not do is drawn disabled (``dashboard.permissions``)."""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run dashboard/app.py` puts dashboard/ on the path, not the project root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.settings.bridge import export_library_env

export_library_env()

import streamlit as st

from dashboard import auth
from dashboard.navigation import page_sections
from dashboard.views import login
from dashboard.views.common import team_switcher


def platform_banner() -> None:
    """A warning on every page while a platform component is down or being restarted by `mlops up`."""
    from infra.embedded.supervisor import problems
    from infra.settings import get_settings

    trouble = problems(get_settings())
    if trouble:
        st.warning(
            "Platform components are not running normally; work that needs them waits or fails until "
            "they are back:\n\n" + "\n".join(f"- {line}" for line in trouble),
            icon="⚠️",
        )


def main() -> None:
    st.set_page_config(page_title="mlops-lite", layout="wide")
    # From here on no page may fall back to acting without a login (see views.common.actor).
    st.session_state[auth.GATE_KEY] = True
    auth.resume_from_url()
    current = auth.session_actor()
    if current is None:
        st.navigation([st.Page(login.render, title="Sign in", url_path="login", default=True)]).run()
        return
    auth.keep_in_url()
    platform_banner()
    team_switcher()
    navigation: dict[str, list[st.Page]] = {}
    for section, specs in page_sections(current[0]).items():
        navigation[section] = [
            st.Page(render, title=title, url_path=path, default=not navigation and i == 0)
            for i, (render, title, path) in enumerate(specs)
        ]
    st.navigation(navigation, expanded=True).run()


main()
