"""Datasets and their entries."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from mlops_lite.schemas.common import Body, Id, Row


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
    name: str = Field(min_length=1, max_length=200)
    scenario: str = Field(
        min_length=1, max_length=40, description="One of the six scenarios, e.g. anomaly_detection."
    )
    description: str = Field(default="", max_length=4000)
    team_id: Id | None = Field(default=None, description="Default: your first team.")
