"""Datasets, their uploaded entries and their immutable, versioned releases."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from catalog.models.base import created_at_field, json_field, optional_datetime_field, updated_at_field


class ReleaseStatus(StrEnum):
    PENDING = "pending"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    FAILED = "failed"
    ARCHIVED = "archived"


class Dataset(SQLModel, table=True):
    __tablename__ = "dataset"
    __table_args__ = (UniqueConstraint("team_id", "scenario", "name", name="uq_dataset_team_scenario_name"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    scenario: str = Field(index=True, max_length=40)
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=4000)
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class DatasetEntry(SQLModel, table=True):
    """One uploaded file. Its object is immutable: a new upload is a new entry with a new key."""

    __tablename__ = "dataset_entry"

    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=300)
    object_key: str = Field(max_length=500)
    size_bytes: int = Field(default=0)
    sha256: str = Field(max_length=64)
    content_type: str = Field(default="application/octet-stream", max_length=100)
    summary: dict[str, Any] = json_field()
    is_train: bool = Field(default=True)
    is_val: bool = Field(default=False)
    is_test: bool = Field(default=False)
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class DatasetRelease(SQLModel, table=True):
    """A published snapshot. ``entries`` freezes the chosen entries and their splits at creation time."""

    __tablename__ = "dataset_release"
    __table_args__ = (UniqueConstraint("dataset_id", "version", name="uq_release_dataset_version"),)

    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", index=True)
    version: str = Field(max_length=50)
    description: str = Field(default="", max_length=4000)
    status: str = Field(default=ReleaseStatus.PENDING, index=True, max_length=20)
    # [{"entry_id", "name", "object_key", "sha256", "size_bytes", "splits": ["train", ...]}]
    entries: list[dict[str, Any]] = json_field(default_factory=list)
    object_key: str | None = Field(default=None, max_length=500)
    size_bytes: int | None = Field(default=None)
    sha256: str | None = Field(default=None, max_length=64)
    split_counts: dict[str, Any] = json_field()
    error: str | None = Field(default=None, max_length=4000)
    flow_run_id: str | None = Field(default=None, max_length=64)
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    published_at: datetime | None = optional_datetime_field()
