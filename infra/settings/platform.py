"""Platform-wide settings: where data lives, which interface servers bind, the first admin."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from infra.settings.base import GroupSettings, default_data_dir
from infra.settings.secrets import secret_default


class PlatformSettings(GroupSettings):
    """``MLOPS_*``: the embedded platform's home and identity."""

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Directory holding every embedded server's data, logs and runtime state (MLOPS_DATA_DIR).",
    )
    host: str = Field(
        default="127.0.0.1",
        description="Interface the embedded servers bind to; keep loopback unless a proxy fronts them.",
    )
    admin_username: str = Field(
        default="admin", description="Login of the admin user created by `mlops init`."
    )
    admin_password: str | None = Field(
        default=None,
        description="Password of the admin created by `mlops init`; generated and printed once when unset.",
    )
    secret_key: str = Field(
        default_factory=secret_default("secret_key"),
        min_length=32,
        description="Server secret that signs dashboard and CLI session tokens and derives inference servers' "
        "tokens; every replica must share it. Default: generated per install (data dir's secrets.json).",
    )
    default_team: str = Field(
        default="default", description="Name of the first team created by `mlops init`."
    )
    restart_base_seconds: float = Field(
        default=1.0,
        gt=0,
        description="`mlops up` restarts a component that dies after this delay, doubled for every failure in "
        "a row (a component up for a minute counts as healthy again).",
    )
    restart_max_seconds: float = Field(
        default=60.0, gt=0, description="Longest delay between two restarts of a component that keeps dying."
    )
    startup_timeout_seconds: float = Field(
        default=120.0, gt=0, description="How long `mlops up` waits for each component to become healthy."
    )

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()
