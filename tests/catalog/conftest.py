"""Catalog test fixtures: a fresh, migrated SQLite catalog per test, and a session on it; ``world``: the
isolation matrix's two teams and their resources (tests/catalog/isolation_world.py) on the test's platform."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from catalog.db import dispose_engines, get_engine, migrate
from infra.settings import reset_settings


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Migrating takes a while; copying a database migrated once per session is instant.
    path = tmp_path_factory.mktemp("catalog-template") / "catalog.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def catalog_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _migrated_template: Path) -> Iterator[str]:
    """A migrated SQLite catalog of this test only, set as MLOPS_DATABASE_URL."""
    path = tmp_path / "catalog.db"
    shutil.copy(_migrated_template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("MLOPS_DATABASE_URL", url)
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MLOPS_ENV_FILE", str(tmp_path / "no.env"))
    reset_settings()
    dispose_engines()
    yield url
    dispose_engines()
    reset_settings()


@pytest.fixture
def session(catalog_url: str) -> Iterator[Session]:
    with Session(get_engine(catalog_url), expire_on_commit=False) as s:
        yield s


@pytest.fixture
def world(platform_env, _migrated_template: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from argon2 import PasswordHasher

    from catalog.services import teams
    from tests.catalog.isolation_world import build_world

    monkeypatch.setattr(teams, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    dispose_engines()
    shutil.copy(_migrated_template, platform_env.database.url.split("///", 1)[1])
    try:
        yield build_world()
    finally:
        dispose_engines()  # platform_env empties and removes the test's bucket
