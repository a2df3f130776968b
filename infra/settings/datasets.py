"""Dataset upload limits: sizes, zip-bomb guards, image, CSV-header and log-line bounds."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from infra.settings.base import GroupSettings


class DatasetSettings(GroupSettings):
    """``MLOPS_UPLOAD_*``: what an upload may be."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_UPLOAD_", extra="ignore")

    max_bytes: int = Field(default=1024**3, ge=1, description="Largest upload accepted, in bytes.")
    max_uncompressed_bytes: int = Field(
        default=4 * 1024**3, ge=1, description="Largest total uncompressed size of an uploaded zip."
    )
    max_compression_ratio: float = Field(
        default=100.0, gt=1, description="Largest uncompressed/compressed ratio."
    )
    max_zip_members: int = Field(default=200_000, ge=1, description="Most files in an uploaded zip.")
    max_image_pixels: int = Field(
        default=64_000_000,
        ge=1,
        description="Largest image (width x height) accepted inside an uploaded zip.",
    )
    max_columns: int = Field(
        default=1000,
        ge=1,
        description="Most columns in the header of a CSV upload (anomaly detection, time series, text "
        "classification); every column is parsed and summarised, so the cost of a file grows with it.",
    )
    max_line_chars: int = Field(
        default=1_000_000,
        ge=1,
        description="Longest line accepted in a log upload (guards files without newlines).",
    )
