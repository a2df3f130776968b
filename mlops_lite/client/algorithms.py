"""``client.algorithms``: the algorithm catalog, read by anyone, enabled and disabled by administrators."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

from mlops_lite.client.transport import Transport
from mlops_lite.schemas.algorithms import AlgorithmDetail, AlgorithmOut
from mlops_lite.schemas.common import Page


class Algorithms:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def get(self, scenario: str, name: str) -> AlgorithmDetail:
        """An algorithm in full: the form of its parameters (``form_config``) and its search space."""
        return self._t.get(f"/algorithms/{_path(scenario, name)}", AlgorithmDetail)

    def enable(self, scenario: str, name: str) -> AlgorithmDetail:
        return self._t.send("POST", f"/algorithms/{_path(scenario, name)}/enable", AlgorithmDetail)

    def disable(self, scenario: str, name: str) -> AlgorithmDetail:
        """Refused (``Conflict``) while a training job of it is starting or running."""
        return self._t.send("POST", f"/algorithms/{_path(scenario, name)}/disable", AlgorithmDetail)

    def page(
        self,
        *,
        offset: int = 0,
        limit: int = 50,
        search: str | None = None,
        scenario: str | None = None,
        enabled: bool | None = None,
    ) -> Page[AlgorithmOut]:
        return self._t.page(
            "/algorithms",
            AlgorithmOut,
            offset=offset,
            limit=limit,
            q=search,
            scenario=scenario,
            enabled=_flag(enabled),
        )

    def list(
        self, *, scenario: str | None = None, enabled: bool | None = None, search: str | None = None
    ) -> Iterator[AlgorithmOut]:
        """By scenario then name; ``enabled`` True or False keeps only those (pages fetched as the iteration
        goes)."""
        return self._t.pages("/algorithms", AlgorithmOut, q=search, scenario=scenario, enabled=_flag(enabled))


def _flag(value: bool | None) -> str | None:
    return None if value is None else str(value).lower()


def _path(scenario: str, name: str) -> str:
    return f"{quote(scenario, safe='')}/{quote(name, safe='')}"
