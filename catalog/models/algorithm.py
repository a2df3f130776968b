"""Algorithm catalog: one row per (scenario, algorithm), with the form schema of its hyperparameters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from catalog.models.base import created_at_field, json_field, updated_at_field


class AlgorithmConfig(SQLModel, table=True):
    __tablename__ = "algorithm_config"
    __table_args__ = (UniqueConstraint("scenario", "name", name="uq_algorithm_scenario_name"),)

    id: int | None = Field(default=None, primary_key=True)
    scenario: str = Field(index=True, max_length=40)
    name: str = Field(max_length=100)
    display_name: str = Field(max_length=200)
    description: str = Field(default="", max_length=4000)
    scenario_description: str = Field(default="", max_length=4000)
    image: str = Field(max_length=300)
    # {"fields": [{"name", "type", "label", "default", "min", "max", "options", "help", "depends_on"}]}
    form_config: dict[str, Any] = json_field()
    # hyperopt-style search space: {"param": {"type": "uniform"|"loguniform"|"quniform"|"choice", ...}}
    search_space: dict[str, Any] = json_field()
    enabled: bool = Field(default=True)
    builtin: bool = Field(default=False, description="Imported from a preset file")
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
