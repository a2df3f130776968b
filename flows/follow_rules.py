"""What to do with a serving when its model's aliases may have moved, pure: its desired and observed state, its
version reference, the version the reference names now and the version it serves in; an action out.

- ``skip``: nothing to do (a pinned or 'latest' serving, one not meant to run, one serving the target already,
  an alias cleared — it keeps what it serves —, or a state the runtime has not told yet: the next sync decides);
- ``roll_forward``: its server runs and serves another version: load the target beside it and swap
  (``tasks.serving_rollout``), forwards or back;
- ``restart``: meant to run but its container has ended: a start resolves the alias again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from catalog.model_gate import ALIASES

RUNNING = "running"
# A container in one of these states is gone for good: starting the serving again is the only way back.
ENDED = frozenset({"failed", "exited", "not_found"})


class Action(StrEnum):
    SKIP = "skip"
    ROLL_FORWARD = "roll_forward"
    RESTART = "restart"


@dataclass(frozen=True, slots=True)
class FollowDecision:
    action: Action
    reason: str


def follows_alias(model_version: str) -> bool:
    return model_version in ALIASES


def decide(
    *,
    desired: str,
    observed: str,
    stale: bool,
    ref: str,
    target: int | str | None,
    served: str | None,
) -> FollowDecision:
    """``target``: the version ``ref`` names now (None: the alias is unset); ``served``: the version the server
    answers with (its /health), else the one the catalog recorded at its start or last roll-forward."""
    if not follows_alias(ref):
        return FollowDecision(Action.SKIP, f"serves {ref!r}, not an alias")
    if desired != RUNNING:
        return FollowDecision(Action.SKIP, "not meant to run: its next start serves the alias's version")
    if target is None:
        return FollowDecision(Action.SKIP, f"{ref} is unset: keeps serving version {served}")
    target = str(target)
    if stale:
        return FollowDecision(Action.SKIP, "the runtime was not reached: the next sync decides")
    if observed in ENDED:
        return FollowDecision(Action.RESTART, f"its container is {observed}: a start serves version {target}")
    if observed != RUNNING:
        return FollowDecision(Action.SKIP, f"its container is {observed}: the next sync decides")
    if served == target:
        return FollowDecision(Action.SKIP, f"serves version {target} already")
    return FollowDecision(Action.ROLL_FORWARD, f"serves version {served}, {ref} is version {target}")
