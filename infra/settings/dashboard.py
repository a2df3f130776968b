"""Dashboard settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from infra.settings.base import GroupSettings


class DashboardSettings(GroupSettings):
    """``MLOPS_DASHBOARD_*``: the Streamlit dashboard."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_DASHBOARD_", extra="ignore")

    port: int = Field(default=8501, description="Port of the Streamlit dashboard.")
    page_size: int = Field(default=50, ge=1, description="Rows per page in dashboard lists.")
