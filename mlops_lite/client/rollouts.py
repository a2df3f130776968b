"""``client.rollouts``: gray releases of a serving — its traffic (a canary with a weight, a shadow, a routing
header) and progressive roll-outs of a canary, with their decisions.

    client.rollouts.traffic(7, canary="4", weight=10, routing_header="x-user-id")   # 10 % to version 4, sticky
    client.rollouts.traffic(7, shadow="5")                                         # version 5 answers copies
    started = client.rollouts.start(7, "4", steps=[10, 50, 100], dwell_seconds=120)
    done = client.rollouts.wait(started.rollout.id)        # promoted, rolled_back or aborted
    for d in done.decisions: print(d.weight, d.action, d.reason)

``traffic``: an argument left out keeps its value, ``None`` clears it.
"""

from __future__ import annotations

import time
from typing import Any

from mlops_lite.client.errors import TimedOut
from mlops_lite.client.transport import Transport, build
from mlops_lite.schemas.common import Page
from mlops_lite.schemas.rollouts import (
    RolloutAction,
    RolloutChange,
    RolloutOut,
    StartRollout,
    Thresholds,
    TrafficChange,
)
from mlops_lite.schemas.servings import ServingChange

KEEP: Any = object()
ENDED = frozenset({"promoted", "rolled_back", "aborted"})


class Rollouts:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def traffic(
        self,
        serving_id: int,
        *,
        canary: str | None = KEEP,
        weight: int | None = None,
        shadow: str | None = KEEP,
        routing_header: str | None = KEEP,
        model_id: int | None = None,
    ) -> ServingChange:
        """Set the serving's canary (a version of its model, or an alias) and its weight, its shadow, its routing
        header; a running serving's server is told at once (``.launch``)."""
        # Only what is passed is sent: a field left out keeps its value on the platform, None clears it.
        fields: dict[str, Any] = {}
        if weight is not None:
            fields["weight"] = weight
        if model_id is not None:
            fields["model_id"] = model_id
        for name, value in (("canary", canary), ("shadow", shadow), ("routing_header", routing_header)):
            if value is not KEEP:
                fields[name] = value
        body = build(TrafficChange, **fields)
        return self._t.send("PUT", f"/servings/{serving_id}/traffic", ServingChange, body)

    def start(
        self,
        serving_id: int,
        canary: str,
        *,
        steps: list[int] | None = None,
        dwell_seconds: float = 60.0,
        thresholds: Thresholds | dict[str, Any] | None = None,
        model_id: int | None = None,
    ) -> RolloutChange:
        """Roll ``canary`` out on the running serving (default steps 10, 50, 100 %)."""
        fields: dict[str, Any] = {"canary": canary, "dwell_seconds": dwell_seconds}
        if steps is not None:
            fields["steps"] = steps
        if thresholds is not None:
            fields["thresholds"] = Thresholds.model_validate(thresholds)
        if model_id is not None:
            fields["model_id"] = model_id
        body = build(StartRollout, **fields)
        return self._t.send("POST", f"/servings/{serving_id}/rollouts", RolloutChange, body)

    def get(self, rollout_id: int) -> RolloutOut:
        """The roll-out with every decision taken so far."""
        return self._t.get(f"/rollouts/{rollout_id}", RolloutOut)

    def page(self, serving_id: int, *, offset: int = 0, limit: int = 50) -> Page[RolloutOut]:
        return self._t.page(f"/servings/{serving_id}/rollouts", RolloutOut, offset=offset, limit=limit)

    def _act(self, rollout_id: int, action: str, reason: str) -> RolloutOut:
        body = build(RolloutAction, action=action, reason=reason)
        return self._t.send("POST", f"/rollouts/{rollout_id}/actions", RolloutOut, body)

    def pause(self, rollout_id: int, reason: str = "") -> RolloutOut:
        return self._act(rollout_id, "pause", reason)

    def resume(self, rollout_id: int, reason: str = "") -> RolloutOut:
        return self._act(rollout_id, "resume", reason)

    def abort(self, rollout_id: int, reason: str = "") -> RolloutOut:
        """Take the canary off at once and end the roll-out."""
        return self._act(rollout_id, "abort", reason)

    def wait(self, rollout_id: int, *, timeout: float = 3600.0, poll: float = 2.0) -> RolloutOut:
        """Until the roll-out has ended (promoted, rolled back or aborted); ``TimedOut`` at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            rollout = self.get(rollout_id)
            if rollout.status in ENDED:
                return rollout
            if time.monotonic() >= deadline:
                raise TimedOut(f"roll-out {rollout_id} is still {rollout.status} after {timeout:.0f} s")
            time.sleep(poll)
