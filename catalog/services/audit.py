"""Audit records: every mutating service call records who, which team, what, which resource and the outcome."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from catalog.db import AFTER_ROLLBACK
from catalog.models import AuditEvent
from catalog.scoping import Actor, current_check, requires, team_filter


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
    from catalog.errors import NotFoundError, PermissionDeniedError, QuotaExceededError

    info: dict[str, Any] = {"resource_id": None, "team_id": team_id, "detail": {}}
    check = current_check()
    if check is not None:
        check["audited"] = True
    try:
        yield info
    except Exception as exc:
        refused = NotFoundError | PermissionDeniedError | QuotaExceededError
        outcome = "denied" if isinstance(exc, refused) else "error"
        failure = {
            "actor": actor,
            "action": action,
            "resource_type": resource_type,
            "resource_id": info["resource_id"],
            "team_id": info["team_id"],
            "outcome": outcome,
            "detail": {**_permission(), **info["detail"], "error": str(exc)[:500]},
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
        detail={**_permission(), **info["detail"]},
    )


def _permission() -> dict[str, str]:
    check = current_check()
    return {"permission": check["permission"]} if check else {}


def record_refusal(
    fn: Callable[..., Any], permission: str, exc: Exception, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Record a refusal of a ``requires`` call that no ``audited`` block recorded: after the caller's
    transaction rolls back when the call has a session, else in a transaction of its own."""
    actor = kwargs.get("actor")
    if not isinstance(actor, Actor):
        return
    ids = {k: v for k, v in kwargs.items() if k.endswith("_id") and isinstance(v, int | str)}
    failure: dict[str, Any] = {
        "actor": actor,
        "action": f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}",
        "resource_type": fn.__module__.rsplit(".", 1)[-1],
        "resource_id": None,
        "team_id": ids.get("team_id") if isinstance(ids.get("team_id"), int) else None,
        "outcome": "denied",
        "detail": {"permission": permission, **ids, "error": str(exc)[:500]},
    }
    session = args[0] if args and isinstance(args[0], Session) else kwargs.get("session")
    if isinstance(session, Session):
        session.info.setdefault(AFTER_ROLLBACK, []).append(lambda own: record(own, **failure))
        return
    from catalog.db import session_scope

    with session_scope() as own:
        record(own, **failure)


@requires("audit:read")
def list_events(
    session: Session,
    *,
    actor: Actor,
    action: str | None = None,
    resource_type: str | None = None,
    team_id: int | None = None,
    include_children: bool = False,
    actor_name: str | None = None,
    since: datetime | None = None,
    outcome: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[int, list[AuditEvent]]:
    """Admins see every event; others the events of the teams where they hold ``audit:read``. Newest first;
    each filter is an exact match (``team_id`` with ``include_children``: the team's subtree)."""
    stmt = select(AuditEvent)
    readable = actor.teams_with("audit:read")
    if readable is not None:
        stmt = stmt.where(col(AuditEvent.team_id).in_(sorted(readable)))
    teams = team_filter(actor, team_id, include_children)
    if teams is not None:
        stmt = stmt.where(col(AuditEvent.team_id).in_(teams))
    for column, value in (
        (AuditEvent.action, action),
        (AuditEvent.resource_type, resource_type),
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
