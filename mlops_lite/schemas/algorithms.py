"""The algorithm catalog: one algorithm per (scenario, name), with the form of its parameters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from mlops_lite.schemas.common import Row


class AlgorithmOut(Row):
    id: int
    scenario: str
    name: str
    display_name: str
    enabled: bool
    builtin: bool = Field(description="Imported from a preset file.")
    image: str
    updated_at: datetime


class AlgorithmDetail(AlgorithmOut):
    """An algorithm in full: the form of its parameters (``form_config``: ``{"fields": [{"name", "type",
    "label", "default", "min", "max", "options", "help", "depends_on"}]}``) and its tuning search space."""

    description: str
    scenario_description: str
    form_config: dict[str, Any]
    search_space: dict[str, Any]
    created_at: datetime
