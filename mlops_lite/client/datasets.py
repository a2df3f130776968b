"""``client.datasets``: datasets and their entries."""

from __future__ import annotations

from collections.abc import Iterator

from mlops_lite.client.transport import Transport
from mlops_lite.schemas.common import Page
from mlops_lite.schemas.datasets import CreateDataset, DatasetOut


class Datasets:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def create(
        self, name: str, scenario: str, *, description: str = "", team_id: int | None = None
    ) -> DatasetOut:
        body = CreateDataset(name=name, scenario=scenario, description=description, team_id=team_id)
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
    ) -> Page[DatasetOut]:
        return self._t.page(
            "/datasets", DatasetOut, offset=offset, limit=limit, q=search, scenario=scenario, team_id=team_id
        )

    def list(
        self, *, search: str | None = None, scenario: str | None = None, team_id: int | None = None
    ) -> Iterator[DatasetOut]:
        """Every dataset the caller sees (pages fetched as the iteration goes)."""
        return self._t.pages("/datasets", DatasetOut, q=search, scenario=scenario, team_id=team_id)
