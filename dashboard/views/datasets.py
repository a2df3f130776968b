"""Datasets page: create, upload entries, flag splits, publish releases, archive/restore, download."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from catalog.db import session_scope
from catalog.services import datasets as svc
from catalog.uploads import upload_entry
from dashboard.views.common import actor, attempt, records, scenario_picker
from flows.launch import flow_run_url, run_flow
from infra.objectstore import ObjectStore
from infra.settings import get_settings

RELEASE_FIELDS = ["id", "version", "status", "size_bytes", "split_counts", "error", "created_at"]


def render() -> None:
    st.title("Datasets")
    who, team_id = actor()
    scenario = scenario_picker("ds_scenario")
    with st.expander("New dataset"):
        with st.form("new_dataset", clear_on_submit=True):
            name = st.text_input("Name")
            description = st.text_area("Description")
            if st.form_submit_button("Create") and team_id is not None:
                def create() -> None:
                    with session_scope() as session:
                        svc.create_dataset(session, actor=who, team_id=team_id, scenario=scenario, name=name,
                                           description=description)
                attempt(create, success=f"dataset {name!r} created")
    search = st.text_input("Search", key="ds_search")
    with session_scope() as session:
        total, rows = svc.list_datasets(session, actor=who, scenario=scenario, search=search or None, limit=200)
    st.caption(f"{total} dataset(s)")
    if not rows:
        return
    st.dataframe(records(rows, ["id", "name", "description", "created_at"]), hide_index=True)
    chosen = st.selectbox("Dataset", rows, format_func=lambda d: f"{d.name} (#{d.id})", key="ds_pick")
    if chosen is not None:
        _detail(who, chosen.id)


def _detail(who, dataset_id: int) -> None:  # type: ignore[no-untyped-def]
    st.subheader("Entries")
    files = st.file_uploader("Upload files", accept_multiple_files=True, key=f"up_{dataset_id}")
    flags = st.columns(3)
    is_train = flags[0].checkbox("train", value=True, key=f"f_train_{dataset_id}")
    is_val = flags[1].checkbox("val", key=f"f_val_{dataset_id}")
    is_test = flags[2].checkbox("test", key=f"f_test_{dataset_id}")
    if files and st.button("Upload", key=f"do_up_{dataset_id}"):
        for f in files:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "upload"
                path.write_bytes(f.getvalue())
                attempt(lambda p=path, n=f.name: upload_entry(actor=who, dataset_id=dataset_id, path=p, filename=n,
                                                              is_train=is_train, is_val=is_val, is_test=is_test),
                        success=f"{f.name} uploaded")
    with session_scope() as session:
        entries = svc.list_entries(session, actor=who, dataset_id=dataset_id)
        releases = svc.list_releases(session, actor=who, dataset_id=dataset_id)
    if entries:
        st.dataframe(records(entries, ["id", "name", "size_bytes", "is_train", "is_val", "is_test", "summary"]),
                     hide_index=True)
    st.subheader("Releases")
    with st.form(f"publish_{dataset_id}"):
        version = st.text_input("Version (default: next vN)")
        if st.form_submit_button("Publish"):
            def publish() -> str:
                with session_scope() as session:
                    release = svc.create_release(session, actor=who, dataset_id=dataset_id, version=version or None)
                launched = run_flow("publish-release", {"release_id": release.id}, wait=False)
                return flow_run_url(launched.flow_run_id) or ""
            url = attempt(publish)
            if url is not None:
                st.success(f"publishing started — [flow run]({url})")
    if releases:
        st.dataframe(records(releases, RELEASE_FIELDS), hide_index=True)
        release = st.selectbox("Release", releases, format_func=lambda r: f"{r.version} ({r.status})",
                               key=f"rel_{dataset_id}")
        cols = st.columns(3)
        if release.status == "published" and cols[0].button("Archive", key=f"arch_{release.id}"):
            with session_scope() as session:
                attempt(lambda: svc.archive_release(session, actor=who, release_id=release.id), success="archived")
        if release.status == "archived" and cols[0].button("Restore", key=f"rest_{release.id}"):
            with session_scope() as session:
                attempt(lambda: svc.restore_release(session, actor=who, release_id=release.id), success="restored")
        if release.status in ("published", "archived") and release.object_key:
            store = ObjectStore.from_settings(get_settings().s3)
            cols[1].link_button("Download (presigned)", store.presigned_get_url(release.object_key))
        if release.status == "failed" and cols[2].button("Publish again", key=f"rep_{release.id}"):
            launched = run_flow("publish-release", {"release_id": release.id}, wait=False)
            st.success(f"publishing again — [flow run]({flow_run_url(launched.flow_run_id)})")
