"""Cleaning up after publishes that died: releases stuck in PUBLISHING whose flow run is no longer live are
marked failed, and incomplete multipart uploads under ``releases/`` that no live publish owns are aborted.

A publish killed mid-upload (its process SIGKILLed, the machine rebooted) aborts nothing: its release stays
PUBLISHING and the parts it sent stay in the bucket, invisible as objects. ``plan_release_cleanup`` decides
what to do (pure: state in, actions out); ``reconcile_releases_once`` reads the catalog, Prefect and S3 and
applies the plan. The flow runner calls it when it starts and on a schedule (``reconcile-releases`` in
flows/datasets.py). Prefect's word on a flow run is trusted: a run whose process is gone but which nothing
marked CRASHED yet (an inline run killed, a runner killed before it could report) counts as live until then.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prefect import task

from catalog.db import session_scope
from catalog.services import releases as releases_service
from infra.objectstore import IncompleteUpload, ObjectStore
from infra.settings import get_settings
from tasks.datasets import release_key

RELEASES_PREFIX = "releases/"
# What Prefect calls a flow run that may still be working (AwaitingRetry is SCHEDULED, Retrying RUNNING).
LIVE_STATES = frozenset({"SCHEDULED", "PENDING", "RUNNING"})
LIST_LIMIT = 1000
MAX_ROUNDS = 20


@dataclass(frozen=True, slots=True)
class Publishing:
    """A release seen in PUBLISHING: where its zip goes and which flow run holds it."""

    release_id: int
    key: str
    flow_run_id: str | None


@dataclass(frozen=True, slots=True)
class FlowRunState:
    state: str
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Interrupted:
    """A release to mark failed, if it is still held by ``flow_run_id`` when the update runs."""

    release_id: int
    flow_run_id: str | None
    error: str
    key: str = ""  # where its zip would be: an object the dead publish completed there is removed too


@dataclass(frozen=True, slots=True)
class CleanupPlan:
    fail: tuple[Interrupted, ...]
    abort: tuple[IncompleteUpload, ...]


def interrupted_error(
    flow_run_id: str | None,
    run: FlowRunState | None,
    what: str = "publishing",
    then: str = "publish it again",
) -> str:
    if flow_run_id is None:
        how = "no flow run holds it"
    elif run is None:
        how = f"flow run {flow_run_id} no longer exists"
    else:
        how = f"flow run {flow_run_id} ended {run.state}" + (f" ({run.message})" if run.message else "")
    return f"{what} was interrupted: {how}; {then}"


def plan_release_cleanup(
    publishing: Sequence[Publishing],
    flow_runs: Mapping[str, FlowRunState],
    uploads: Sequence[IncompleteUpload],
) -> CleanupPlan:
    """Releases whose flow run is not live are to be failed; every upload not at the key of a release still
    publishing under a live flow run is to be aborted (a failed or published release owns no upload)."""
    fail: list[Interrupted] = []
    live_keys: set[str] = set()
    for release in publishing:
        run = flow_runs.get(release.flow_run_id) if release.flow_run_id else None
        if run is not None and run.state in LIVE_STATES:
            live_keys.add(release.key)
        else:
            fail.append(
                Interrupted(
                    release.release_id,
                    release.flow_run_id,
                    interrupted_error(release.flow_run_id, run),
                    release.key,
                )
            )
    return CleanupPlan(fail=tuple(fail), abort=tuple(u for u in uploads if u.key not in live_keys))


def interrupted_holders(
    holders: Sequence[tuple[int, str | None]], flow_runs: Mapping[str, FlowRunState], what: str, then: str
) -> list[tuple[int, str | None, str]]:
    """Rows held by a flow run that is not live (or by none): (row id, flow run id, why); ``what`` names the
    work and ``then`` what to do in the message (pure, like ``plan_release_cleanup``)."""
    out: list[tuple[int, str | None, str]] = []
    for ident, flow_run_id in holders:
        run = flow_runs.get(flow_run_id) if flow_run_id else None
        if run is not None and run.state in LIVE_STATES:
            continue
        out.append((ident, flow_run_id, interrupted_error(flow_run_id, run, what, then)))
    return out


def flow_run_states(flow_run_ids: Sequence[str]) -> dict[str, FlowRunState]:
    """Prefect's state of each flow run; ids Prefect does not know (or not UUIDs) are left out."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    ids: list[uuid.UUID] = []
    for ident in dict.fromkeys(flow_run_ids):
        try:
            ids.append(uuid.UUID(ident))
        except ValueError:
            continue
    if not ids:
        return {}
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=len(ids)
        )
    return {
        str(r.id): FlowRunState(
            state=r.state_type.value if r.state_type else "PENDING",
            message=r.state.message if r.state else None,
        )
        for r in runs
    }


def _one_round(store: ObjectStore) -> tuple[list[int], int, bool]:
    # Uploads are listed before the releases are read: an upload started after this listing is not in it,
    # so a publish that claims a release meanwhile can never have its upload aborted by this round.
    uploads = store.incomplete_uploads(RELEASES_PREFIX, limit=LIST_LIMIT)
    with session_scope() as session:
        publishing = [
            Publishing(release_id=int(r.id or 0), key=release_key(r), flow_run_id=r.flow_run_id)
            for r in releases_service.publishing_releases(session)
        ]
    runs = flow_run_states([p.flow_run_id for p in publishing if p.flow_run_id])
    plan = plan_release_cleanup(publishing, runs, uploads)
    failed: list[int] = []
    for item in plan.fail:
        with session_scope() as session:
            won = releases_service.fail_interrupted(
                session, release_id=item.release_id, flow_run_id=item.flow_run_id, error=item.error
            )
        if won:
            failed.append(item.release_id)
            # The dead publish may have completed its upload before it died: a failed release owns no object.
            # (Nothing else writes there now: a republish must claim the release first, and then rebuilds it.)
            store.delete(item.key)
    for upload in plan.abort:
        store.abort_upload(upload.key, upload.upload_id, bucket=upload.bucket)
    return failed, len(plan.abort), len(uploads) >= LIST_LIMIT


@task(name="reconcile-release-uploads")
def reconcile_releases_once() -> dict[str, Any]:
    """Fail interrupted releases and abort orphaned uploads; returns what was done."""
    store = ObjectStore.from_settings(get_settings().s3)
    failed: list[int] = []
    aborted = 0
    for _ in range(MAX_ROUNDS):  # more rounds only while a full listing was cut at its limit
        round_failed, round_aborted, truncated = _one_round(store)
        failed += round_failed
        aborted += round_aborted
        if not truncated or not round_aborted:
            break
    return {"failed_releases": failed, "aborted_uploads": aborted}
