"""Audit trail: who did what to which resource, in which team, when, and how it ended."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from catalog.models.base import created_at_field, json_field


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = created_at_field()
    actor_id: int | None = Field(default=None, index=True)
    actor_name: str = Field(default="system", max_length=100)
    team_id: int | None = Field(default=None, index=True)
    action: str = Field(index=True, max_length=100)
    resource_type: str = Field(index=True, max_length=50)
    resource_id: str | None = Field(default=None, max_length=100)
    outcome: str = Field(default="ok", max_length=20)  # ok | denied | error
    detail: dict[str, Any] = json_field()
