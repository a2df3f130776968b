"""The Streamlit dashboard: one app, a page per domain (datasets → training → serving → sandbox)."""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run dashboard/app.py` puts dashboard/ on the path, not the project root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.settings.bridge import export_library_env  # noqa: E402

export_library_env()

import streamlit as st  # noqa: E402

from dashboard.views import datasets, overview, sandbox, serving, training  # noqa: E402


def main() -> None:
    st.set_page_config(page_title="mlops-lite", layout="wide")
    pages = [
        st.Page(overview.render, title="Overview", url_path="overview", default=True),
        st.Page(datasets.render, title="Datasets", url_path="datasets"),
        st.Page(training.render, title="Training", url_path="training"),
        st.Page(serving.render, title="Serving", url_path="serving"),
        st.Page(sandbox.render, title="Sandbox", url_path="sandbox"),
    ]
    st.navigation(pages).run()


main()
