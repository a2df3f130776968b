"""Releases on a live API server through the SDK, with the publish flow on a real Prefect server (run inline
in the API process here, as `MLOPS_PREFECT_RUN_MODE=inline` does): publish, follow, wait, download the zip
byte for byte, archive and restore as the services allow, publish again; a release not published refuses
to download; another team's release reads as missing; with Prefect down nothing is created."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from mlops_lite.client import Conflict, InvalidRequest, NotFound, TimedOut, Unavailable
from tests.api.datasets_support import blue_team_client, same_not_found, sha256_of, start_api
from tests.flows.test_walking_skeleton import make_series

pytestmark = [pytest.mark.slow, pytest.mark.platform_servers("s3", "prefect")]


@pytest.fixture
def api(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    return start_api(request, monkeypatch, MLOPS_PREFECT_RUN_MODE="inline")


def _dataset(client, tmp_path: Path) -> tuple[int, list[int]]:  # type: ignore[no-untyped-def]
    ds = client.datasets.create("cpu", "anomaly_detection")
    train = client.datasets.upload(ds.id, make_series(tmp_path / "train.csv", n=300, seed=1, anomalies=[5]))
    test = client.datasets.upload(
        ds.id, make_series(tmp_path / "test.csv", n=100, seed=2, anomalies=[]), train=False, test=True
    )
    return ds.id, [train.id, test.id]


def test_publish_follow_download_archive_restore(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with api.client() as client:
        dataset_id, entry_ids = _dataset(client, tmp_path)
        started = client.releases.publish(dataset_id, description="first")
        assert started.release.version == "v1" and started.launch.flow_run_id
        assert [e.entry_id for e in started.release.entries] == entry_ids
        assert [e.splits for e in started.release.entries] == [["train"], ["test"]]
        release = client.releases.wait(started.release.id, timeout=120)
        assert release.status == "published" and release.split_counts == {"train": 300, "test": 100}
        assert release.flow_run_id == started.launch.flow_run_id

        seen = client.releases.progress(release.id, started.launch.flow_run_id)
        assert (seen.flow_state, seen.status, seen.row_flow_run_id) == (
            "COMPLETED",
            "published",
            started.launch.flow_run_id,
        )
        unknown = client.releases.progress(release.id, "00000000-0000-0000-0000-000000000000")
        assert unknown.flow_state is None and unknown.status == "published"

        zip_path = client.releases.download(release.id, tmp_path)
        assert zip_path.name == f"release-{release.id}-v1.zip"
        assert zip_path.stat().st_size == release.size_bytes and sha256_of(zip_path) == release.sha256
        with zipfile.ZipFile(zip_path) as zf:
            manifest = json.loads(zf.read("manifest.json"))
        assert manifest["release_id"] == release.id and set(manifest["splits"]) == {"train", "test"}

        # Published: neither publishing it again nor restoring it means anything.
        with pytest.raises(Conflict, match="release 'v1' is already published"):
            client.releases.republish(release.id)
        with pytest.raises(Conflict, match="is published, not archived"):
            client.releases.restore(release.id)
        # Archived: still its owners' to download (catalog.services.releases.downloadable_release), no
        # longer a choice for new training jobs.
        assert client.releases.archive(release.id).status == "archived"
        with pytest.raises(Conflict, match="is archived, not published"):
            client.releases.archive(release.id)
        again = client.releases.download(release.id, tmp_path / "archived.zip")
        assert sha256_of(again) == release.sha256
        assert [r.status for r in client.releases.list(dataset_id)] == ["archived"]
        assert client.releases.page(status="archived").total == 1
        assert client.releases.restore(release.id).status == "published"

        # A named version, from chosen entries.
        second = client.releases.publish(dataset_id, version="only-train", entry_ids=[entry_ids[0]])
        done = client.releases.wait(second.release.id, timeout=120)
        assert done.status == "published" and done.split_counts == {"train": 300}
        with pytest.raises(NotFound, match="flow run .* not found"):  # a real flow run, not this release's
            client.releases.progress(release.id, str(second.launch.flow_run_id))
        assert [r.version for r in client.releases.list(dataset_id)] == ["only-train", "v1"]
        assert [r.version for r in client.releases.list(search="only")] == ["only-train"]


def test_unpublished_releases_refuse_download_and_wait_times_out(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from catalog.db import session_scope
    from catalog.services import releases as releases_service
    from catalog.services.teams import actor_for

    with api.client() as client:
        dataset_id, _ = _dataset(client, tmp_path)
        with session_scope() as session:  # pending: created, never launched
            admin = actor_for(session, username="admin")
            pending = releases_service.create_release(session, actor=admin, dataset_id=dataset_id).id
        with pytest.raises(InvalidRequest, match="release 'v1' is pending; only published releases download"):
            client.releases.download(pending, tmp_path / "pending.zip")
        assert not (tmp_path / "pending.zip").exists() and not (tmp_path / "pending.zip.part").exists()
        with pytest.raises(TimedOut, match="release 'v1' is still pending after 0.5 s"):
            client.releases.wait(pending, timeout=0.5, poll=0.1)
        with pytest.raises(Conflict, match="release 'v1' is pending, not archived"):
            client.releases.restore(pending)
        # Publishing it again is what a pending (or failed) release is for.
        relaunched = client.releases.republish(pending)
        assert relaunched.release.id == pending and relaunched.launch.flow_run_id
        assert client.releases.wait(pending, timeout=120).status == "published"
        with pytest.raises(InvalidRequest, match="at least one entry flagged train"):
            client.releases.publish(dataset_id, entry_ids=[])


def test_another_teams_release_reads_as_missing(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with api.client() as admin:
        dataset_id, _ = _dataset(admin, tmp_path)
        published = admin.releases.publish(dataset_id)
        admin.releases.wait(published.release.id, timeout=120)
    release_id, flow_run_id = published.release.id, str(published.launch.flow_run_id)
    missing = 2_000_000
    with blue_team_client(api) as blue:
        calls = [
            lambda i: blue.releases.get(i),
            lambda i: blue.releases.progress(i, flow_run_id),
            lambda i: blue.releases.republish(i),
            lambda i: blue.releases.archive(i),
            lambda i: blue.releases.restore(i),
            lambda i: blue.releases.download(i, tmp_path / "stolen.zip"),
        ]
        for call in calls:
            errors = []
            for ident in (release_id, missing):
                with pytest.raises(NotFound) as caught:
                    call(ident)
                errors.append(caught.value)
            same_not_found(errors[0], errors[1], release_id, missing)
        for call in (lambda i: blue.releases.publish(i), lambda i: blue.releases.page(i)):
            errors = []
            for ident in (dataset_id, missing):
                with pytest.raises(NotFound) as caught:
                    call(ident)
                errors.append(caught.value)
            same_not_found(errors[0], errors[1], dataset_id, missing)
        assert blue.releases.page().total == 0
    assert not (tmp_path / "stolen.zip").exists()
    with api.client() as admin:
        assert [r.status for r in admin.releases.list(dataset_id)] == ["published"]


@pytest.mark.platform_servers("s3")
def test_prefect_down_creates_no_release(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with api.client() as client:
        dataset_id, _ = _dataset(client, tmp_path)
        with pytest.raises(Unavailable, match="the Prefect server at .* is unreachable") as down:
            client.releases.publish(dataset_id)
        assert down.value.status == 503
        assert list(client.releases.list(dataset_id)) == []
