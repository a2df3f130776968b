"""``client.teams.usage`` and ``client.teams.set_quota``: a team's usage against its quotas, and its limits."""

from __future__ import annotations

from mlops_lite.client.transport import Transport
from mlops_lite.schemas.quotas import SetQuota, TeamUsageOut


class TeamQuotas:
    """Part of ``client.teams``."""

    _t: Transport

    def usage(self, team_id: int) -> TeamUsageOut:
        """What the team's subtree uses, and every quota that applies to it (its own and its ancestors')."""
        return self._t.get(f"/teams/{team_id}/usage", TeamUsageOut)

    def set_quota(self, team_id: int, **limits: float | None) -> TeamUsageOut:
        """Set the team's own limits (administrators): ``trainings``, ``servings``, ``stored_bytes``, ``cpus``,
        ``memory_mb``; each one named takes its value (None removes it), the others are kept."""
        return self._t.send("PUT", f"/teams/{team_id}/quota", TeamUsageOut, SetQuota(**limits))
