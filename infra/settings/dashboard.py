"""Dashboard settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from infra.settings.base import GroupSettings


class DashboardSettings(GroupSettings):
    """``MLOPS_DASHBOARD_*``: the Streamlit dashboard."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_DASHBOARD_", extra="ignore")

    port: int = Field(default=8501, description="Port of the Streamlit dashboard.")
    page_size: int = Field(default=50, ge=1, le=1000, description="Rows per page in dashboard lists.")
    session_hours: float = Field(
        default=12.0, gt=0, description="How long a dashboard sign-in lasts (also across browser reloads)."
    )
    refresh_seconds: float = Field(
        default=2.0,
        gt=0,
        description="How often pages following running work (publishing, training) refresh.",
    )
