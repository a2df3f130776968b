"""The audit log on a live API server through the SDK: newest first, each filter of
``catalog.services.audit.list_events``, paging, administrators reading every team's events and members only
their teams'."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from mlops_lite.client import Client, InvalidRequest, NotFound

pytestmark = pytest.mark.platform_servers("s3")


def record(team_id: int | None, action: str, *, outcome: str = "ok", at: datetime | None = None) -> None:
    """An event as the services write it (the log's filters are under test, not who writes which event)."""
    from sqlalchemy import update

    from catalog.db import session_scope
    from catalog.models import AuditEvent
    from catalog.scoping import SYSTEM
    from catalog.services import audit

    with session_scope() as session:
        event = audit.record(
            session, actor=SYSTEM, action=action, resource_type="probe", team_id=team_id, outcome=outcome
        )
        session.flush()
        if at is not None:
            session.exec(update(AuditEvent).where(AuditEvent.id == event.id).values(at=at))  # type: ignore[call-overload]


def test_filters_paging_and_who_reads_what(api_server) -> None:  # type: ignore[no-untyped-def]
    with api_server.client() as admin:
        red = admin.teams.create("red")
        admin.teams.add_member(red.id, username="mallory")
        default = next(t for t in admin.me().teams if t.id != red.id)
        long_ago = datetime.now(UTC) - timedelta(days=30)
        record(red.id, "probe.old", at=long_ago)
        for i in range(3):
            record(red.id, "probe.red", outcome="denied" if i == 1 else "ok")
        record(default.id, "probe.default")

        probes = list(admin.audit.list(resource_type="probe"))
        assert [e.action for e in probes] == ["probe.default", *["probe.red"] * 3, "probe.old"]
        assert [e.id for e in probes] == sorted((e.id for e in probes), reverse=True)
        assert [e.team_id for e in admin.audit.list(action="probe.red")] == [red.id] * 3
        assert len(list(admin.audit.list(resource_type="probe", outcome="denied"))) == 1
        assert len(list(admin.audit.list(resource_type="probe", team_id=default.id))) == 1
        assert {e.actor_name for e in admin.audit.list(resource_type="probe", actor_name="system")} == {
            "system"
        }
        recent = list(admin.audit.list(resource_type="probe", since=long_ago + timedelta(days=1)))
        assert "probe.old" not in {e.action for e in recent} and len(recent) == 4
        # The SDK reads a time without a zone as UTC.
        naive = (long_ago + timedelta(days=1)).replace(tzinfo=None)
        assert len(list(admin.audit.list(resource_type="probe", since=naive))) == 4
        first = admin.audit.page(resource_type="probe", limit=2)
        second = admin.audit.page(resource_type="probe", limit=2, offset=2)
        assert first.total == second.total == 5
        assert [e.id for e in first.items + second.items] == [e.id for e in probes[:4]]
        # The team's own creation and the membership are in the log too, written by the services.
        assert [e.action for e in admin.audit.list(team_id=red.id, resource_type="team")] == [
            "team.add_member",
            "team.create",
        ]

    with Client.login(api_server.url, "mallory", "mallory-pass")[0] as member:
        # A member reads their teams' events only; another team's filter reads as a missing team.
        mine = list(member.audit.list(resource_type="probe"))
        assert [e.action for e in mine] == ["probe.red"] * 3 + ["probe.old"]
        with pytest.raises(NotFound, match=f"team {default.id} not found"):
            member.audit.page(team_id=default.id)
        with pytest.raises(InvalidRequest, match="outcome"):
            member.audit.page(outcome="maybe")
    assert httpx.get(f"{api_server.url}/api/v1/audit").status_code == 401
    headers = {"Authorization": f"Bearer {api_server.operator_token}"}

    def since(value: str) -> httpx.Response:
        params = {"since": value, "resource_type": "probe"}
        return httpx.get(f"{api_server.url}/api/v1/audit", params=params, headers=headers)

    for bad in ("yesterday", "0.5", "2026-01-31", "2026-01-31T12:00:00", "2026-02-30T00:00:00Z"):
        answer = since(bad)
        assert answer.status_code == 422 and "since: " in answer.json()["error"]["message"], (
            bad,
            answer.text,
        )
    # Dates a UTC datetime cannot hold: before the first one (everything), after the last one (nothing).
    assert since("0001-01-01T00:00:00+14:00").json()["total"] == 5
    assert since("9999-12-31T23:59:59-14:00").json()["total"] == 0
