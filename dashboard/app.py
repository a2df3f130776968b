"""The Streamlit dashboard: sign-in first, then a page per domain (datasets → training → serving → sandbox),
and for administrators the teams/users and audit pages."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

# `streamlit run dashboard/app.py` puts dashboard/ on the path, not the project root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.settings.bridge import export_library_env  # noqa: E402

export_library_env()

import streamlit as st  # noqa: E402

from catalog.scoping import Actor  # noqa: E402
from dashboard import auth  # noqa: E402
from dashboard.views import (  # noqa: E402
    admin_teams,
    audit,
    datasets,
    login,
    overview,
    sandbox,
    serving,
    training,
)
from dashboard.views.common import team_switcher  # noqa: E402

PageSpec = tuple[Callable[[], None], str, str]  # render function, title, url path


def page_specs(who: Actor) -> list[PageSpec]:
    """The pages this actor may open: administration only for superusers (the first page is the default)."""
    pages: list[PageSpec] = [
        (overview.render, "Overview", "overview"),
        (datasets.render, "Datasets", "datasets"),
        (training.render, "Training", "training"),
        (serving.render, "Serving", "serving"),
        (sandbox.render, "Sandbox", "sandbox"),
    ]
    if who.is_superuser:
        pages += [(admin_teams.render, "Teams and users", "admin-teams"), (audit.render, "Audit log", "audit")]
    return pages


def main() -> None:
    st.set_page_config(page_title="mlops-lite", layout="wide")
    # From here on no page may fall back to acting without a login (see views.common.actor).
    st.session_state[auth.GATE_KEY] = True
    current = auth.session_actor()
    if current is None:
        st.navigation([st.Page(login.render, title="Sign in", url_path="login", default=True)]).run()
        return
    team_switcher()
    pages = [st.Page(render, title=title, url_path=path, default=i == 0)
             for i, (render, title, path) in enumerate(page_specs(current[0]))]
    st.navigation(pages).run()


main()
