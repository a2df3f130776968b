"""Releases on the datasets page: publish (by flags or chosen entries), status, size and counts per split,
archive / restore / publish again, and download (presigned link, or streamed and verified against the
release's sha256 before the browser gets it)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import streamlit as st

from catalog.db import session_scope
from catalog.models import DatasetEntry, DatasetRelease
from catalog.scoping import Actor
from catalog.services import datasets as svc
from dashboard.views.common import attempt
from flows.launch import flow_run_url, run_flow
from infra.objectstore import ObjectStore
from infra.settings import get_settings
from tasks.datasets import verified_download


def release_rows(releases: list[DatasetRelease]) -> list[dict[str, object]]:
    return [{"id": r.id, "version": r.version, "status": r.status,
             "size_MiB": round(r.size_bytes / 2**20, 2) if r.size_bytes is not None else None,
             **{f"{split}": (r.split_counts or {}).get(split) for split in svc.SPLITS},
             "entries": len(r.entries), "error": r.error, "created_at": r.created_at} for r in releases]


def verified_zip(who: Actor, release_id: int) -> Callable[[], BinaryIO]:
    """A deferred download for st.download_button: streamed from S3 to a temporary file, checked against the
    sha256 recorded at publishing, then handed over (the page script never holds the zip in memory)."""

    def produce() -> BinaryIO:
        with session_scope() as session:
            release = svc.downloadable_release(session, actor=who, release_id=release_id)
        assert release.object_key and release.sha256
        target = Path(tempfile.mkdtemp(prefix="mlops-download-")) / f"{release.version}.zip"
        verified_download(ObjectStore.from_settings(get_settings().s3), key=release.object_key,
                          sha256=release.sha256, target=target)
        return target.open("rb")

    return produce


def _launch(release_id: int, what: str) -> None:
    launched = run_flow("publish-release", {"release_id": release_id}, wait=False)
    url = flow_run_url(launched.flow_run_id)
    st.success(f"{what} — state {launched.state}" + (f" — [flow run]({url})" if url else ""))


def render_publish(who: Actor, dataset_id: int, entries: list[DatasetEntry]) -> None:
    with st.form(f"publish_{dataset_id}"):
        version = st.text_input("Version (default: next vN)")
        flagged = [e for e in entries if e.is_train or e.is_val or e.is_test]
        chosen = st.multiselect("Entries (default: every flagged entry)", entries, default=flagged,
                                format_func=lambda e: f"#{e.id} {e.name}", key=f"pub_entries_{dataset_id}")
        description = st.text_input("Description")
        if st.form_submit_button("Publish"):
            def create() -> int:
                with session_scope() as session:
                    release = svc.create_release(session, actor=who, dataset_id=dataset_id, version=version or None,
                                                 entry_ids=[e.id for e in chosen], description=description)
                    return release.id  # type: ignore[return-value]
            release_id = attempt(create)
            if release_id is not None:
                _launch(release_id, "publishing started")


def render_releases(who: Actor, dataset_id: int, releases: list[DatasetRelease]) -> None:
    if not releases:
        st.caption("no releases yet")
        return
    st.dataframe(release_rows(releases), hide_index=True)
    release = st.selectbox("Release", releases, format_func=lambda r: f"{r.version} ({r.status})",
                           key=f"rel_{dataset_id}")
    if release is None:
        return
    cols = st.columns(4)
    if release.status == "published" and cols[0].button("Archive", key=f"arch_{release.id}"):
        with session_scope() as session:
            attempt(lambda: svc.archive_release(session, actor=who, release_id=release.id), success="archived")
    if release.status == "archived" and cols[0].button("Restore", key=f"rest_{release.id}"):
        with session_scope() as session:
            attempt(lambda: svc.restore_release(session, actor=who, release_id=release.id), success="restored")
    if release.status == "failed" and cols[0].button("Publish again", key=f"rep_{release.id}"):
        _launch(release.id, "publishing again")  # type: ignore[arg-type]
    if release.status in ("published", "archived") and release.object_key:
        store = ObjectStore.from_settings(get_settings().s3)
        cols[1].link_button("Presigned link", store.presigned_get_url(release.object_key))
        cols[2].download_button("Download (verified)", data=verified_zip(who, release.id),  # type: ignore[arg-type]
                                file_name=f"{release.version}.zip", mime="application/zip",
                                key=f"dl_{release.id}")
        st.caption(f"sha256 {release.sha256} · {release.size_bytes} bytes")
    if release.error:
        st.error(f"publishing failed: {release.error}")
