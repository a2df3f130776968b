"""Datasets and their entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from mlops_lite.schemas.common import Body, Id, Name, Row, ScenarioName

# The header in which a download (an entry's file, a release's zip) declares its body's sha256; the SDK keeps
# a downloaded file only if it matches.
SHA256_HEADER = "X-Checksum-Sha256"


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


class EntryOut(Row):
    """One uploaded file of a dataset; its split flags say which splits a new release puts it in."""

    id: int
    dataset_id: int
    name: str
    size_bytes: int
    sha256: str
    content_type: str
    summary: dict[str, Any] = Field(description="What validation found: rows, columns, classes, ...")
    is_train: bool
    is_val: bool
    is_test: bool
    created_by: int | None
    created_at: datetime
    updated_at: datetime


class EntryFlags(Body):
    """Split flags to set (named as the upload's query parameters); a flag left out or null stays as it is.
    Releases already made keep the splits they froze."""

    train: bool | None = None
    val: bool | None = None
    test: bool | None = None
