"""Settings of the platform, one group per subsystem, read from ``MLOPS_*`` variables and an optional ``.env``.

``get_settings()`` is cached; tests call ``reset_settings()`` after changing the environment.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, Field

from infra.settings.api import ApiSettings
from infra.settings.dashboard import DashboardSettings
from infra.settings.database import DatabaseSettings
from infra.settings.datasets import DatasetSettings
from infra.settings.monitoring import MonitoringSettings
from infra.settings.nats import NatsSettings
from infra.settings.objectstore import ObjectStoreSettings
from infra.settings.platform import PlatformSettings
from infra.settings.predict import PredictSettings
from infra.settings.prefect import PrefectSettings
from infra.settings.runtime import RuntimeSettings
from infra.settings.tracking import TrackingSettings
from infra.settings.training import TrainingSettings


class Settings(BaseModel):
    """All settings groups; each reads its own ``MLOPS_<GROUP>_*`` variables."""

    platform: PlatformSettings = Field(default_factory=PlatformSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    s3: ObjectStoreSettings = Field(default_factory=ObjectStoreSettings)
    mlflow: TrackingSettings = Field(default_factory=TrackingSettings)
    prefect: PrefectSettings = Field(default_factory=PrefectSettings)
    runtime: RuntimeSettings = Field(default_factory=RuntimeSettings)
    nats: NatsSettings = Field(default_factory=NatsSettings)
    predict: PredictSettings = Field(default_factory=PredictSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    datasets: DatasetSettings = Field(default_factory=DatasetSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    get_settings.cache_clear()


__all__ = [
    "ApiSettings",
    "DashboardSettings",
    "DatabaseSettings",
    "DatasetSettings",
    "MonitoringSettings",
    "NatsSettings",
    "ObjectStoreSettings",
    "PlatformSettings",
    "PredictSettings",
    "PrefectSettings",
    "RuntimeSettings",
    "Settings",
    "TrackingSettings",
    "TrainingSettings",
    "get_settings",
    "reset_settings",
]
