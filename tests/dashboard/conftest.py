"""Fixtures of the dashboard page tests: ``catalog``, an initialised catalog (admin, default team, presets) on the
test's platform servers, passwords hashed cheaply (see ``tests.dashboard.seed``)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dashboard.seed import Catalog, init_catalog


@pytest.fixture
def catalog(platform_env: Any, monkeypatch: pytest.MonkeyPatch, cheap_hashing: None) -> Catalog:
    return init_catalog(monkeypatch)
