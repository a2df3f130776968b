"""``client.datasets``: datasets and their entries (uploads and downloads streamed from and to files)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from mlops_lite.client.transport import Transport, build, team_filter
from mlops_lite.schemas.common import Page
from mlops_lite.schemas.datasets import CreateDataset, DatasetOut, EntryFlags, EntryOut


class Datasets:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def create(
        self, name: str, scenario: str, *, description: str = "", team_id: int | None = None
    ) -> DatasetOut:
        body = build(CreateDataset, name=name, scenario=scenario, description=description, team_id=team_id)
        return self._t.send("POST", "/datasets", DatasetOut, body)

    def get(self, dataset_id: int) -> DatasetOut:
        return self._t.get(f"/datasets/{dataset_id}", DatasetOut)

    def page(
        self,
        *,
        offset: int = 0,
        limit: int = 50,
        search: str | None = None,
        scenario: str | None = None,
        team_id: int | None = None,
        include_children: bool = False,
    ) -> Page[DatasetOut]:
        teams = team_filter(team_id, include_children)
        return self._t.page(
            "/datasets", DatasetOut, offset=offset, limit=limit, q=search, scenario=scenario, **teams
        )

    def list(
        self,
        *,
        search: str | None = None,
        scenario: str | None = None,
        team_id: int | None = None,
        include_children: bool = False,
    ) -> Iterator[DatasetOut]:
        """Every dataset the caller sees, or of one team (``include_children``: and of the teams below it);
        pages fetched as the iteration goes."""
        teams = team_filter(team_id, include_children)
        return self._t.pages("/datasets", DatasetOut, q=search, scenario=scenario, **teams)

    # -- entries -----------------------------------------------------------------------------------------
    def upload(
        self,
        dataset_id: int,
        path: str | Path,
        *,
        train: bool = True,
        val: bool = False,
        test: bool = False,
    ) -> EntryOut:
        """Upload a file as a new entry, streamed from the file (never read whole into memory). The server
        validates it for the dataset's scenario; a refused file (``InvalidRequest``, or over the size
        limit) stores nothing."""
        return self._t.upload(
            f"/datasets/{dataset_id}/entries",
            EntryOut,
            Path(path),
            train=_flag(train),
            val=_flag(val),
            test=_flag(test),
        )

    def entries_page(
        self, dataset_id: int, *, offset: int = 0, limit: int = 50, search: str | None = None
    ) -> Page[EntryOut]:
        return self._t.page(f"/datasets/{dataset_id}/entries", EntryOut, offset=offset, limit=limit, q=search)

    def entries(self, dataset_id: int, *, search: str | None = None) -> Iterator[EntryOut]:
        """Every entry of a dataset, in upload order (pages fetched as the iteration goes)."""
        return self._t.pages(f"/datasets/{dataset_id}/entries", EntryOut, q=search)

    def entry(self, entry_id: int) -> EntryOut:
        return self._t.get(f"/entries/{entry_id}", EntryOut)

    def flag(
        self,
        entry_id: int,
        *,
        train: bool | None = None,
        val: bool | None = None,
        test: bool | None = None,
    ) -> EntryOut:
        """Set split flags (None leaves a flag as it is)."""
        body = build(EntryFlags, train=train, val=val, test=test)
        return self._t.send("PATCH", f"/entries/{entry_id}", EntryOut, body)

    def download(self, entry_id: int, dest: str | Path) -> Path:
        """Stream an entry's file to ``dest`` (a directory: its own name inside it), checked against its
        sha256."""
        target = Path(dest)
        if target.is_dir():
            target = target / self.entry(entry_id).name
        return self._t.download(f"/entries/{entry_id}/download", target)


def _flag(value: bool) -> str:
    return "true" if value else "false"
