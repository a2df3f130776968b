"""``client.releases``: publish a dataset's entries as a release (a flow run builds its zip), wait for it,
archive, restore, download."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlops_lite.client.errors import InvalidRequest, TimedOut
from mlops_lite.client.transport import Transport, build, team_filter
from mlops_lite.schemas.common import Page
from mlops_lite.schemas.releases import SETTLED, CreateRelease, ReleaseLaunch, ReleaseLink, ReleaseOut
from mlops_lite.schemas.runs import Progress


class Releases:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def publish(
        self,
        dataset_id: int,
        *,
        version: str | None = None,
        entry_ids: list[int] | None = None,
        description: str = "",
    ) -> ReleaseLaunch:
        """Freeze the entries (default: every flagged one) as a new release and start publishing it; the
        answer holds the release and the launch (``.launch.flow_run_id``). ``wait`` follows it to its end."""
        body = build(CreateRelease, version=version, entry_ids=entry_ids, description=description)
        return self._t.send("POST", f"/datasets/{dataset_id}/releases", ReleaseLaunch, body)

    def republish(self, release_id: int) -> ReleaseLaunch:
        """Publish a pending or failed release again (``Conflict`` if it is publishing or published)."""
        return self._t.send("POST", f"/releases/{release_id}/publish", ReleaseLaunch)

    def get(self, release_id: int) -> ReleaseOut:
        return self._t.get(f"/releases/{release_id}", ReleaseOut)

    def page(
        self,
        dataset_id: int | None = None,
        *,
        offset: int = 0,
        limit: int = 50,
        search: str | None = None,
        status: str | None = None,
        team_id: int | None = None,
        include_children: bool = False,
    ) -> Page[ReleaseOut]:
        """One page, newest first: of a dataset, or of every dataset the caller sees (``team_id``: of one
        team's datasets, with ``include_children`` and of the teams below it)."""
        path, teams = _where(dataset_id, team_id, include_children)
        return self._t.page(path, ReleaseOut, offset=offset, limit=limit, q=search, status=status, **teams)

    def list(
        self,
        dataset_id: int | None = None,
        *,
        search: str | None = None,
        status: str | None = None,
        team_id: int | None = None,
        include_children: bool = False,
    ) -> Iterator[ReleaseOut]:
        """Every release (of a dataset, or of every dataset the caller sees, or of one team's), newest first."""
        path, teams = _where(dataset_id, team_id, include_children)
        return self._t.pages(path, ReleaseOut, q=search, status=status, **teams)

    def progress(self, release_id: int, flow_run_id: str) -> Progress:
        """The publishing flow run's state beside the release's status."""
        return self._t.get(f"/releases/{release_id}/progress", Progress, flow_run_id=flow_run_id)

    def wait(self, release_id: int, timeout: float = 600.0, *, poll: float = 1.0) -> ReleaseOut:
        """The release once its publishing has ended: ``published`` (or ``archived``) or ``failed`` (see
        ``.error``). Raises ``TimedOut`` when ``timeout`` seconds pass first; the publishing goes on."""
        deadline = time.monotonic() + timeout
        while True:
            release = self.get(release_id)
            if release.status in SETTLED:
                return release
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimedOut(
                    f"release {release.version!r} is still {release.status} after {timeout:g} s; "
                    "the publishing goes on"
                )
            time.sleep(min(poll, left))

    def archive(self, release_id: int) -> ReleaseOut:
        """New training jobs can no longer choose it (it still downloads)."""
        return self._t.send("POST", f"/releases/{release_id}/archive", ReleaseOut)

    def restore(self, release_id: int) -> ReleaseOut:
        return self._t.send("POST", f"/releases/{release_id}/restore", ReleaseOut)

    def link(self, release_id: int) -> ReleaseLink:
        """A presigned URL of the zip, for a machine that reaches the object store itself."""
        return self._t.get(f"/releases/{release_id}/link", ReleaseLink)

    def download(self, release_id: int, dest: str | Path) -> Path:
        """Stream the release's zip to ``dest`` (a directory: ``release-<id>-<version>.zip`` inside it),
        checked against its sha256."""
        target = Path(dest)
        if target.is_dir():
            target = target / f"release-{release_id}-{self.get(release_id).version}.zip"
        return self._t.download(f"/releases/{release_id}/download", target)


def _where(dataset_id: int | None, team_id: int | None, include_children: bool) -> tuple[str, dict[str, Any]]:
    """The list's path (a dataset's releases, or every dataset's) and its team filter."""
    if dataset_id is not None:
        if team_id is not None:
            raise InvalidRequest("give a dataset or a team, not both")
        return f"/datasets/{dataset_id}/releases", {}
    return "/releases", team_filter(team_id, include_children)
