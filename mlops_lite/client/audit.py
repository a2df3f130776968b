"""``client.audit``: the audit log, newest first (administrators read every event; others their teams')."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from mlops_lite.client.transport import Transport, team_filter
from mlops_lite.schemas.audit import AuditEventOut
from mlops_lite.schemas.common import Page


class Audit:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def page(
        self,
        *,
        offset: int = 0,
        limit: int = 50,
        action: str | None = None,
        resource_type: str | None = None,
        team_id: int | None = None,
        actor_name: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        include_children: bool = False,
    ) -> Page[AuditEventOut]:
        filters = _filters(action, resource_type, team_id, actor_name, outcome, since, include_children)
        return self._t.page("/audit", AuditEventOut, offset=offset, limit=limit, **filters)

    def list(
        self,
        *,
        action: str | None = None,
        resource_type: str | None = None,
        team_id: int | None = None,
        actor_name: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        include_children: bool = False,
    ) -> Iterator[AuditEventOut]:
        """Events matching every filter given (each an exact match; ``since`` a lower bound on the time, read
        as UTC without a time zone; ``team_id`` with ``include_children``: the team's and its sub-teams'),
        pages fetched as the iteration goes."""
        filters = _filters(action, resource_type, team_id, actor_name, outcome, since, include_children)
        return self._t.pages("/audit", AuditEventOut, **filters)


def _filters(
    action: str | None,
    resource_type: str | None,
    team_id: int | None,
    actor_name: str | None,
    outcome: str | None,
    since: datetime | None,
    include_children: bool,
) -> dict[str, Any]:
    return {
        "action": action,
        "resource_type": resource_type,
        **team_filter(team_id, include_children),
        "actor_name": actor_name,
        "outcome": outcome,
        "since": _rfc3339(since) if since is not None else None,
    }


def _rfc3339(value: datetime) -> str:
    """The API takes a time with its zone; a naive datetime is read as UTC."""
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()
