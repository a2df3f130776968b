"""Audit records: every mutating service call records who, which team, what, which resource and the outcome."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from catalog.db import AFTER_ROLLBACK
from catalog.models import AuditEvent
from catalog.scoping import Actor


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: object | None = None,
    team_id: int | None = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        actor_id=actor.user_id,
        actor_name=actor.username,
        team_id=team_id,
        action=action,
        resource_type=resource_type,
        resource_id=None if resource_id is None else str(resource_id),
        outcome=outcome,
        detail=detail or {},
    )
    session.add(event)
    return event


@contextmanager
def audited(
    session: Session, *, actor: Actor, action: str, resource_type: str, team_id: int | None = None
) -> Iterator[dict[str, Any]]:
    """Record the action as ok when the block succeeds; on error queue a denied/error record that
    ``session_scope`` writes after rolling the caller's transaction back."""
    from catalog.errors import NotFoundError, PermissionDeniedError

    info: dict[str, Any] = {"resource_id": None, "team_id": team_id, "detail": {}}
    try:
        yield info
    except Exception as exc:
        outcome = "denied" if isinstance(exc, NotFoundError | PermissionDeniedError) else "error"
        failure = {
            "actor": actor,
            "action": action,
            "resource_type": resource_type,
            "resource_id": info["resource_id"],
            "team_id": info["team_id"],
            "outcome": outcome,
            "detail": {**info["detail"], "error": str(exc)[:500]},
        }
        session.info.setdefault(AFTER_ROLLBACK, []).append(lambda own: record(own, **failure))
        raise
    record(
        session,
        actor=actor,
        action=action,
        resource_type=resource_type,
        resource_id=info["resource_id"],
        team_id=info["team_id"],
        detail=info["detail"],
    )


def list_events(
    session: Session,
    *,
    actor: Actor,
    action: str | None = None,
    resource_type: str | None = None,
    team_id: int | None = None,
    actor_name: str | None = None,
    since: datetime | None = None,
    outcome: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[int, list[AuditEvent]]:
    """Admins see every event; others see their teams' events. Newest first; each filter is an exact match."""
    stmt = select(AuditEvent)
    if not actor.is_superuser:
        stmt = stmt.where(col(AuditEvent.team_id).in_(sorted(actor.team_ids)))
    for column, value in (
        (AuditEvent.action, action),
        (AuditEvent.resource_type, resource_type),
        (AuditEvent.team_id, team_id),
        (AuditEvent.actor_name, actor_name),
        (AuditEvent.outcome, outcome),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = session.exec(stmt.order_by(col(AuditEvent.id).desc()).offset(offset).limit(limit)).all()
    return int(total), list(rows)
