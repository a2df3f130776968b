"""Monitoring: how the platform collects the servings' prediction logs (``tasks.prediction_logs``) and how long
it keeps them. A serving's own share and cap are on its catalog row (``log_rate``, ``log_per_minute``)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from infra.settings.base import GroupSettings


class MonitoringSettings(GroupSettings):
    """``MLOPS_MONITORING_*``: prediction log collection and retention."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_MONITORING_", extra="ignore")

    prefix: str = Field(
        default="predictions",
        pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$",
        description="Key prefix of the prediction logs in the platform's bucket (one folder per serving below).",
    )
    collect_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="How often the platform pulls every running serving's log."
    )
    pull_records: int = Field(
        default=10_000, ge=1, le=50_000, description="Most records in one pulled batch (one Parquet file)."
    )
    pull_max_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024,
        description="Largest batch the platform accepts from a server; a larger one is refused and not written.",
    )
    buffer_records: int = Field(
        default=20_000,
        ge=10,
        le=1_000_000,
        description="Records a server keeps until collected (its memory; the rest are dropped and counted).",
    )
    buffer_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=1024,
        le=4 * 1024 * 1024 * 1024,
        description="Bytes of logged bodies a server keeps until collected (its memory); the rest are dropped.",
    )
    max_body_bytes: int = Field(
        default=65_536,
        ge=0,
        le=16 * 1024 * 1024,
        description="Request and answer bodies are logged up to this size; a longer one is left out.",
    )
    retention_days: float = Field(
        default=30.0, gt=0, description="Prediction logs older than this (by their hour) are deleted."
    )

    @model_validator(mode="after")
    def _a_full_buffer_fits_a_pull(self) -> MonitoringSettings:
        # Otherwise a server could hold one batch the platform always refuses, and collection would stall on it.
        if self.buffer_bytes * 2 > self.pull_max_bytes:
            raise ValueError(
                "MLOPS_MONITORING_PULL_MAX_BYTES must be at least twice MLOPS_MONITORING_BUFFER_BYTES "
                "(a batch carries the buffer's bodies plus its columns)"
            )
        return self
