"""Prediction limits, enforced by the inference server and by the platform's own predict call.

The server reads them from its environment (``algorithms.base.contracts.Limits.from_env``, which keeps the same
defaults): ``tasks.containers.container_env`` passes every one of them to inference containers.
"""

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
    max_image_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1, description="Largest decoded image in bytes."
    )
    max_image_pixels: int = Field(
        default=25_000_000,
        ge=1,
        description="Most pixels (width x height) of one image, read from its header before it is decoded: "
        "memory follows pixels, not bytes (a 250 KB PNG can be 8000x8000).",
    )
    max_request_pixels: int = Field(
        default=100_000_000, ge=1, description="Most pixels of all the images of one request together."
    )
    max_body_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1,
        description="Largest request body in bytes; the server refuses a larger one as it arrives (or from its "
        "content-length), without reading the rest.",
    )
    timeout_seconds: float = Field(default=60.0, gt=0, description="Timeout of the platform's predict call.")
