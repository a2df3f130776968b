"""The audit log: events newest first, filtered as ``catalog.services.audit.list_events`` filters them (each an
exact match; ``since`` a lower bound on the time), paged. Administrators read every event; others their teams'
(the service decides)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ActorDep, SessionDep, TeamFilter
from api.paging import Page
from catalog.services import audit as audit_service
from infra.settings import get_settings
from mlops_lite.schemas.audit import AuditEventOut, Outcome, Timestamp

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=Page[AuditEventOut], summary="List audit events")
def list_events(
    actor: ActorDep,
    session: SessionDep,
    teams: TeamFilter,
    action: Annotated[str | None, Query(max_length=100, description="e.g. dataset.create")] = None,
    resource_type: Annotated[str | None, Query(max_length=50, description="e.g. dataset")] = None,
    actor_name: Annotated[str | None, Query(max_length=100, description="The acting user's name.")] = None,
    outcome: Annotated[Outcome | None, Query()] = None,
    since: Annotated[
        Timestamp | None,
        Query(description="Events at or after this time (RFC 3339, e.g. 2026-01-31T12:00:00Z)."),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Rows to skip.")] = 0,
    limit: Annotated[
        int, Query(ge=1, le=1000, description="Rows to return (at most MLOPS_API_MAX_PAGE_SIZE).")
    ] = 50,
) -> Page[AuditEventOut]:
    # Paged like api.paging's lists, but without ``q``: the filters are exact matches, and a search box that
    # is silently ignored would mislead.
    limit = min(limit, get_settings().api.max_page_size)
    if since is not None:
        since = _utc(since)
    total, rows = audit_service.list_events(
        session,
        actor=actor,
        action=action,
        resource_type=resource_type,
        team_id=teams.team_id,
        include_children=teams.include_children,
        actor_name=actor_name,
        outcome=outcome,
        since=since,
        offset=offset,
        limit=limit,
    )
    return Page(
        items=[AuditEventOut.model_validate(r) for r in rows], total=total, offset=offset, limit=limit
    )


def _utc(value: datetime) -> datetime:
    """``value`` in UTC. An instant before the first or after the last datetime in UTC (year 1 with a positive
    offset, year 9999 with a negative one) is a valid date all the same: it becomes the first or the last one."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        offset = value.utcoffset()
        ahead = offset is not None and offset.total_seconds() > 0
        return (datetime.min if ahead else datetime.max).replace(tzinfo=UTC)
