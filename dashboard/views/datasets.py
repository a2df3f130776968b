"""Datasets page: the scenario's datasets (searched and paged in SQL), create, and a dataset's detail: upload
entries, their list (searched, paged), split flags, summaries and previews (``dataset_preview``), releases
and their actions (``dataset_releases``). Creating, uploading and changing flags need ``datasets:write`` (on
the current team for a new dataset, on the dataset's team otherwise): without it they are drawn disabled."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import streamlit as st

from catalog.db import session_scope
from catalog.models import Dataset, DatasetEntry
from catalog.scoping import Actor
from catalog.services import datasets as svc
from catalog.uploads import upload_entry
from dashboard.permissions import button, gate, read_only_note
from dashboard.views.common import actor, attempt, page_scenario, records
from dashboard.views.dataset_preview import render_preview
from dashboard.views.dataset_releases import render_publish, render_releases
from dashboard.views.paging import fetch_page, pager, search_box

ENTRY_FIELDS = ["id", "name", "size_bytes", "is_train", "is_val", "is_test"]


def _create(who: Actor, team_id: int | None, scenario: str) -> None:
    allowed = gate(who, "datasets:write", team_id)
    with st.expander("New dataset"), st.form("new_dataset", clear_on_submit=True):
        read_only_note(allowed)
        name = st.text_input("Name")
        description = st.text_area("Description")
        if button("Create", allowed, submit=True) and team_id is not None:

            def create() -> None:
                with session_scope() as session:
                    svc.create_dataset(
                        session,
                        actor=who,
                        team_id=team_id,
                        scenario=scenario,
                        name=name,
                        description=description,
                    )

            attempt(create, success=f"dataset {name!r} created")


def render(scenario: str | None = None) -> None:
    st.title("Datasets")
    who, team_id = actor()
    scenario = page_scenario(scenario, "ds_scenario")
    _create(who, team_id, scenario)
    search = search_box("ds_list")

    def fetch(offset: int, limit: int) -> tuple[int, list[Dataset]]:
        with session_scope() as session:
            return svc.list_datasets(
                session, actor=who, scenario=scenario, search=search, offset=offset, limit=limit
            )

    total, rows, _ = fetch_page("ds_list", fetch)
    if rows:
        st.dataframe(records(rows, ["id", "name", "description", "created_at"]), hide_index=True)
    pager("ds_list", total, noun="dataset(s)")
    if not rows:
        return
    chosen = st.selectbox("Dataset", rows, format_func=lambda d: f"{d.name} (#{d.id})", key="ds_pick")
    if chosen is not None:
        _detail(who, chosen)


def _upload(who: Actor, dataset: Dataset) -> None:
    dataset_id = dataset.id
    allowed = gate(who, "datasets:write", dataset.team_id)
    off = allowed.widget_args  # refused: no file can even be chosen
    files = st.file_uploader("Upload files", accept_multiple_files=True, key=f"up_{dataset_id}", **off)
    flags = st.columns(3)
    is_train = flags[0].checkbox("train", value=True, key=f"f_train_{dataset_id}", **off)
    is_val = flags[1].checkbox("val", key=f"f_val_{dataset_id}", **off)
    is_test = flags[2].checkbox("test", key=f"f_test_{dataset_id}", **off)
    if files and button("Upload", allowed, key=f"do_up_{dataset_id}"):
        for f in files:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "upload"
                with path.open("wb") as out:
                    shutil.copyfileobj(f, out, 1 << 20)
                attempt(
                    lambda p=path, n=f.name: upload_entry(
                        actor=who,
                        dataset_id=dataset_id,
                        path=p,
                        filename=n,
                        is_train=is_train,
                        is_val=is_val,
                        is_test=is_test,
                    ),
                    success=f"{f.name} uploaded",
                )


def _entry_rows(entries: list[DatasetEntry]) -> list[dict[str, object]]:
    rows = []
    for e in entries:
        s = e.summary or {}
        size = s.get("rows") or s.get("lines") or s.get("images")
        rows.append(
            {
                **{f: getattr(e, f) for f in ENTRY_FIELDS},
                "samples": size,
                "classes": ", ".join(map(str, s.get("classes") or [])) or None,
                "time": f"{s['time']['start']} → {s['time']['end']} ({s['time']['frequency']})"
                if "time" in s
                else None,
            }
        )
    return rows


def _edit_flags(who: Actor, entry: DatasetEntry, team_id: int | None) -> None:
    allowed = gate(who, "datasets:write", team_id)
    with st.form(f"flags_{entry.id}"):
        st.caption(f"split flags of #{entry.id} {entry.name} (releases already created keep their own)")
        cols = st.columns(3)
        off = allowed.widget_args
        train = cols[0].checkbox("train", value=entry.is_train, key=f"ef_train_{entry.id}", **off)
        val = cols[1].checkbox("val", value=entry.is_val, key=f"ef_val_{entry.id}", **off)
        test = cols[2].checkbox("test", value=entry.is_test, key=f"ef_test_{entry.id}", **off)
        if button("Save flags", allowed, submit=True):

            def save() -> bool:
                with session_scope() as session:
                    svc.set_entry_flags(
                        session,
                        actor=who,
                        entry_id=entry.id,
                        is_train=train,
                        is_val=val,  # type: ignore[arg-type]
                        is_test=test,
                    )
                return True

            if attempt(save):
                st.rerun()  # the entries table above was drawn with the old flags


def _entries(who: Actor, dataset: Dataset) -> None:
    dataset_id, scenario = dataset.id, dataset.scenario
    key = f"entries_{dataset_id}"
    search = search_box(key, "Search entries")

    def fetch(offset: int, limit: int) -> tuple[int, list[DatasetEntry]]:
        with session_scope() as session:
            return svc.page_entries(
                session, actor=who, dataset_id=dataset_id, search=search, offset=offset, limit=limit
            )

    total, entries, _ = fetch_page(key, fetch)
    if entries:
        st.dataframe(_entry_rows(entries), hide_index=True)
    pager(key, total, noun="entry(ies)")
    if not entries:
        st.caption("no entries yet" if not search else "no entry matches")
        return
    entry = st.selectbox(
        "Entry", entries, format_func=lambda e: f"#{e.id} {e.name}", key=f"entry_{dataset_id}"
    )
    if entry is not None:
        _edit_flags(who, entry, dataset.team_id)
        with st.expander("Summary"):
            st.json(entry.summary)
        st.markdown("**Preview**")
        render_preview(entry, scenario)


def _detail(who: Actor, dataset: Dataset) -> None:
    st.subheader("Entries")
    _upload(who, dataset)
    _entries(who, dataset)
    st.subheader("Releases")
    render_publish(who, dataset)
    render_releases(who, dataset)
