"""Releases on the datasets page: publish (by flags or chosen entries), the releases (searched, paged), the
live state of the one shown (following publishing until it ends; a failure with its reason), size and counts
per split, archive / restore / publish again, and download (presigned link, or streamed and verified against the
release's sha256 before the browser gets it). Publishing, archiving and restoring need ``releases:publish`` on
the dataset's team: without it they are drawn disabled; downloads need only to see the dataset."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import streamlit as st

from catalog.db import session_scope
from catalog.models import Dataset, DatasetEntry, DatasetRelease, ReleaseStatus
from catalog.scoping import Actor
from catalog.services import datasets as svc
from catalog.services import releases as rel_svc
from dashboard.permissions import button, gate, read_only_note
from dashboard.views.common import attempt, stable_picker
from dashboard.views.paging import fetch_page, pager, search_box
from flows.launch import flow_run_url, run_flow
from infra.settings import get_settings
from tasks.datasets import presigned_link, verified_download

ENTRY_CHOICES = (
    500  # entries offered for a hand-picked release (the default, every flagged entry, has no limit)
)
IN_PROGRESS = (ReleaseStatus.PENDING, ReleaseStatus.PUBLISHING)


def release_rows(releases: list[DatasetRelease]) -> list[dict[str, object]]:
    return [
        {
            "id": r.id,
            "version": r.version,
            "status": r.status,
            "size_MiB": round(r.size_bytes / 2**20, 2) if r.size_bytes is not None else None,
            **{f"{split}": (r.split_counts or {}).get(split) for split in rel_svc.SPLITS},
            "entries": len(r.entries),
            "error": r.error,
            "created_at": r.created_at,
        }
        for r in releases
    ]


def verified_zip(who: Actor, release_id: int) -> Callable[[], BinaryIO]:
    """A deferred download for st.download_button: streamed from S3 to a temporary file, checked against the
    sha256 recorded at publishing, then handed over (the page script never holds the zip in memory)."""

    def produce() -> BinaryIO:
        with session_scope() as session:
            release = rel_svc.downloadable_release(session, actor=who, release_id=release_id)
        assert release.object_key and release.sha256
        target = Path(tempfile.mkdtemp(prefix="mlops-download-")) / f"{release.version}.zip"
        verified_download(key=release.object_key, sha256=release.sha256, target=target)
        return target.open("rb")

    return produce


def _launch(release_id: int, what: str) -> None:
    launched = run_flow("publish-release", {"release_id": release_id}, wait=False)
    url = flow_run_url(launched.flow_run_id)
    st.success(f"{what} — state {launched.state}" + (f" — [flow run]({url})" if url else ""))
    if launched.message:
        st.error(launched.message)


def render_publish(who: Actor, dataset: Dataset) -> None:
    dataset_id = dataset.id
    allowed = gate(who, "releases:publish", dataset.team_id)
    with session_scope() as session:
        total, entries = svc.page_entries(session, actor=who, dataset_id=dataset_id, limit=ENTRY_CHOICES)
    with st.form(f"publish_{dataset_id}"):
        read_only_note(allowed)
        version = st.text_input("Version (default: next vN)")
        chosen = st.multiselect(
            "Entries (default: every flagged entry)",
            entries,
            default=[],
            format_func=lambda e: f"#{e.id} {e.name} ({_splits(e)})",
            key=f"pub_entries_{dataset_id}",
            placeholder="every flagged entry",
        )
        if total > len(entries):
            st.caption(
                f"the first {len(entries)} of {total} entries are offered; leave it empty to publish "
                "every flagged entry"
            )
        description = st.text_input("Description")
        if button("Publish", allowed, submit=True):

            def create() -> int:
                with session_scope() as session:
                    release = rel_svc.create_release(
                        session,
                        actor=who,
                        dataset_id=dataset_id,
                        version=version or None,
                        entry_ids=[e.id for e in chosen] if chosen else None,
                        description=description,
                    )
                    return release.id  # type: ignore[return-value]

            release_id = attempt(create)
            if release_id is not None:
                st.session_state[f"rel_{dataset_id}_follow"] = release_id
                _launch(release_id, "publishing started")


def _splits(entry: DatasetEntry) -> str:
    return (
        "+".join(
            s
            for s, flag in zip(rel_svc.SPLITS, (entry.is_train, entry.is_val, entry.is_test), strict=True)
            if flag
        )
        or "no split"
    )


def _elapsed(since: datetime) -> int:
    return int((datetime.now(UTC) - since).total_seconds())


def publish_status(who: Actor, release_id: int) -> None:
    """The release's live state: a fragment re-reading it while it is pending or publishing, then the whole
    page once it is done (the list shows the outcome); a failure shows its reason."""
    with session_scope() as session:
        release = rel_svc.get_release(session, actor=who, release_id=release_id)
    following = release.status in IN_PROGRESS
    every = timedelta(seconds=get_settings().dashboard.refresh_seconds) if following else None

    @st.fragment(run_every=every)
    def panel() -> None:
        with session_scope() as session:
            fresh = rel_svc.get_release(session, actor=who, release_id=release_id)
        size = sum(int(e.get("size_bytes") or 0) for e in fresh.entries)
        if fresh.status in IN_PROGRESS:
            waiting = (
                "waiting for the publish flow"
                if fresh.status == ReleaseStatus.PENDING
                else "building the zip"
            )
            st.progress(
                0.1 if fresh.status == ReleaseStatus.PENDING else 0.5,
                text=f"{fresh.version}: {fresh.status} — {waiting}: {len(fresh.entries)} entries, "
                f"{size / 2**20:.1f} MiB in, {_elapsed(fresh.updated_at)} s",
            )
        elif fresh.status == ReleaseStatus.FAILED:
            st.error(f"publishing failed: {fresh.error}")
        elif fresh.status == ReleaseStatus.PUBLISHED:
            splits = ", ".join(f"{split} {count}" for split, count in (fresh.split_counts or {}).items())
            st.success(
                f"{fresh.version} published: {len(fresh.entries)} entries, "
                f"{(fresh.size_bytes or 0) / 2**20:.2f} MiB" + (f" (samples: {splits})" if splits else "")
            )
        if url := flow_run_url(fresh.flow_run_id):
            st.markdown(f"[Prefect flow run]({url})")
        if following and fresh.status not in IN_PROGRESS:
            st.rerun()

    panel()


def release_picker(dataset_id: int, releases: list[DatasetRelease]) -> DatasetRelease:
    """The release picker, labelled by version; a release just published becomes the pick once, when it is on
    this page."""
    key = f"rel_{dataset_id}"
    by_id = {r.id: r for r in releases}
    follow = st.session_state.get(f"rel_{dataset_id}_follow")
    if follow in by_id:
        st.session_state[key] = follow
        del st.session_state[f"rel_{dataset_id}_follow"]
    elif st.session_state.get(key) not in by_id:
        st.session_state.pop(key, None)
    return stable_picker("Release", by_id, lambda r: r.version, key=key)


def render_releases(who: Actor, dataset: Dataset) -> None:
    dataset_id = dataset.id
    allowed = gate(who, "releases:publish", dataset.team_id)
    key = f"rel_{dataset_id}_list"
    search = search_box(key, "Search releases", placeholder="version")

    def fetch(offset: int, limit: int) -> tuple[int, list[DatasetRelease]]:
        with session_scope() as session:
            return rel_svc.page_releases(
                session, actor=who, dataset_id=dataset_id, search=search, offset=offset, limit=limit
            )

    total, releases, _ = fetch_page(key, fetch)
    if releases:
        st.dataframe(release_rows(releases), hide_index=True)
    pager(key, total, noun="release(s)")
    if not releases:
        st.caption("no releases yet" if not search else "no release matches")
        return
    release = release_picker(dataset_id, releases)  # type: ignore[arg-type]
    cols = st.columns(4)
    if release.status == "published" and button("Archive", allowed, key=f"arch_{release.id}", where=cols[0]):
        with session_scope() as session:
            attempt(
                lambda: rel_svc.archive_release(session, actor=who, release_id=release.id), success="archived"
            )
    if release.status == "archived" and button("Restore", allowed, key=f"rest_{release.id}", where=cols[0]):
        with session_scope() as session:
            attempt(
                lambda: rel_svc.restore_release(session, actor=who, release_id=release.id), success="restored"
            )
    if release.status == "failed" and button(
        "Publish again", allowed, key=f"rep_{release.id}", where=cols[0]
    ):
        with session_scope() as session:  # the service decides, whatever the page drew
            checked = attempt(lambda: rel_svc.request_publish(session, actor=who, release_id=release.id))
        if checked is not None:
            _launch(release.id, "publishing again")  # type: ignore[arg-type]
    if release.status in ("published", "archived") and release.object_key:
        cols[1].link_button("Presigned link", presigned_link(release.object_key))
        cols[2].download_button(
            "Download (verified)",
            data=verified_zip(who, release.id),  # type: ignore[arg-type]
            file_name=f"{release.version}.zip",
            mime="application/zip",
            key=f"dl_{release.id}",
        )
        st.caption(f"sha256 {release.sha256} · {release.size_bytes} bytes")
    publish_status(who, release.id)  # type: ignore[arg-type]
