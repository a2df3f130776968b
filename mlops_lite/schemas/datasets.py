"""Datasets and their entries."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from mlops_lite.schemas.common import Body, Id, Name, Row, ScenarioName


class DatasetOut(Row):
    id: int
    team_id: int
    scenario: str
    name: str
    description: str
    created_by: int | None
    created_at: datetime
    updated_at: datetime


class CreateDataset(Body):
    name: Name
    scenario: ScenarioName
    description: str = Field(default="", max_length=4000)
    team_id: Id | None = Field(default=None, description="Default: your first team.")
