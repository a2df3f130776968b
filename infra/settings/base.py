"""Shared base for every settings group: ``MLOPS_*`` variables, an optional ``.env`` file, extras ignored."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


def env_file() -> str:
    """The ``.env`` file read by every group; ``MLOPS_ENV_FILE`` points elsewhere (tests point it nowhere)."""
    return os.environ.get("MLOPS_ENV_FILE", ".env")


def default_data_dir() -> Path:
    return Path(os.environ.get("MLOPS_DATA_DIR", str(Path.home() / ".mlops-lite"))).expanduser().resolve()


class GroupSettings(BaseSettings):
    """Base of one settings group. Subclasses set ``env_prefix`` (always starting with ``MLOPS_``)."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_", extra="ignore", env_file_encoding="utf-8")

    def __init__(self, **values: object) -> None:
        super().__init__(_env_file=env_file(), **values)  # type: ignore[call-arg]
