"""The audit log: who did what to which resource, in which team, when, and how it ended."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from mlops_lite.schemas.common import Row

Outcome = Literal["ok", "denied", "error"]


class AuditEventOut(Row):
    id: int
    at: datetime
    actor_id: int | None
    actor_name: str
    team_id: int | None
    action: str
    resource_type: str
    resource_id: str | None
    outcome: str
    detail: dict[str, Any]
