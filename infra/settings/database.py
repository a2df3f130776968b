"""Catalog database settings: SQLite under the data directory by default, PostgreSQL in production."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from infra.settings.base import GroupSettings, default_data_dir


class DatabaseSettings(GroupSettings):
    """``MLOPS_DATABASE_*``: where the catalog lives."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_DATABASE_", extra="ignore")

    url: str = Field(
        default_factory=lambda: f"sqlite:///{default_data_dir() / 'catalog.db'}",
        description="SQLAlchemy URL of the catalog (MLOPS_DATABASE_URL), e.g. "
        "postgresql+psycopg2://user:pass@host:5432/mlops. Default: SQLite in the data directory.",
    )
    echo: bool = Field(default=False, description="Log every SQL statement (debugging only).")
    pool_size: int = Field(default=5, ge=1, description="Connection pool size for server databases.")
