"""Prediction limits, enforced by the inference server and by the platform's own predict call."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from infra.settings.base import GroupSettings


class PredictSettings(GroupSettings):
    """``MLOPS_PREDICT_*``: request size limits."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_PREDICT_", extra="ignore")

    max_batch_size: int = Field(
        default=10_000, ge=1, description="Most records per request (anomaly, time series, logs, text)."
    )
    max_images: int = Field(default=100, ge=1, description="Most images per request (image scenarios).")
    max_image_bytes: int = Field(default=10 * 1024 * 1024, ge=1, description="Largest decoded image in bytes.")
    timeout_seconds: float = Field(default=60.0, gt=0, description="Timeout of the platform's predict call.")
