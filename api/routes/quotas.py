"""Quotas per team: a team's usage against every quota that applies to it (any team the caller sees; another
reads as missing), and its own limits set by administrators (``catalog.services.quotas``)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from api.deps import ActorDep, AdminDep, IdPath, SessionDep
from catalog.services import quotas as quotas_service
from mlops_lite.schemas.quotas import SetQuota, TeamUsageOut

router = APIRouter(tags=["admin"])


def _out(usage: quotas_service.TeamUsage) -> TeamUsageOut:
    return TeamUsageOut.model_validate(asdict(usage))


@router.get("/teams/{team_id:int}/usage", response_model=TeamUsageOut, summary="A team's usage and quotas")
def team_usage(team_id: IdPath, actor: ActorDep, session: SessionDep) -> TeamUsageOut:
    """What the team's subtree uses (trainings, servings, stored bytes, CPUs, memory), the limits set on the
    team, and every quota that applies to it: its own and its ancestors', each with the use it bounds."""
    return _out(quotas_service.team_usage(session, actor=actor, team_id=team_id))


@router.put(
    "/teams/{team_id:int}/quota", response_model=TeamUsageOut, summary="Set a team's quotas (administrators)"
)
def set_quota(team_id: IdPath, body: SetQuota, actor: AdminDep, session: SessionDep) -> TeamUsageOut:
    """The fields sent are set (``null`` removes a limit, 0 allows nothing); those left out keep their value.
    A quota applies to the team's whole subtree. A limit under the current use refuses what comes next and
    stops nothing."""
    limits = body.model_dump(exclude_unset=True)
    return _out(quotas_service.set_quota(session, actor=actor, team_id=team_id, **limits))
