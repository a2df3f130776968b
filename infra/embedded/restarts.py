"""When the supervisor restarts a component that died: the pure decision, state in → next action out.

A component that exits while `mlops up` runs is restarted after a back-off that doubles with every failure
in a row (``base_seconds`` · 2^(n-1), at most ``max_seconds``); a component that stayed up for
``stable_seconds`` since its last start counts as healthy again, so its next failure starts from the base
delay. The platform is never stopped for it: the supervisor keeps retrying at the longest delay and reports
every restart (log, ``mlops status``, the dashboard's banner). Tested without processes
(tests/infra/test_restarts.py); ``infra.embedded.supervisor`` is the thin loop around it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Phase(StrEnum):
    RUNNING = "running"
    WAITING = "waiting"  # died; restart scheduled at ``restart_at``
    STARTING = "starting"  # restarted; waiting for its health check


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    base_seconds: float = 1.0
    max_seconds: float = 60.0
    stable_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class ComponentLife:
    """What the supervisor knows of one component between two loop rounds."""

    phase: Phase = Phase.RUNNING
    started_at: float = 0.0
    failures_in_a_row: int = 0
    restarts: int = 0
    restart_at: float | None = None
    last_exit_code: int | None = None
    last_exit_at: float | None = None


def backoff(policy: RestartPolicy, failures_in_a_row: int) -> float:
    return min(policy.max_seconds, policy.base_seconds * 2 ** max(0, failures_in_a_row - 1))


def on_exit(
    life: ComponentLife, *, now: float, exit_code: int | None, policy: RestartPolicy
) -> ComponentLife:
    """The component was found dead: schedule its restart."""
    stable = life.phase == Phase.RUNNING and now - life.started_at >= policy.stable_seconds
    failures = 1 if stable else life.failures_in_a_row + 1
    return replace(
        life,
        phase=Phase.WAITING,
        failures_in_a_row=failures,
        last_exit_code=exit_code,
        last_exit_at=now,
        restart_at=now + backoff(policy, failures),
    )


def due(life: ComponentLife, *, now: float) -> bool:
    """True when a dead component's back-off has passed and it should be started again now."""
    return life.phase == Phase.WAITING and life.restart_at is not None and now >= life.restart_at


def on_restart(life: ComponentLife, *, now: float) -> ComponentLife:
    return replace(life, phase=Phase.STARTING, started_at=now, restarts=life.restarts + 1, restart_at=None)


def on_healthy(life: ComponentLife) -> ComponentLife:
    return replace(life, phase=Phase.RUNNING)


def on_start_failed(life: ComponentLife, *, now: float, policy: RestartPolicy) -> ComponentLife:
    """Its process could not be started, or never became healthy: another round of back-off."""
    failures = life.failures_in_a_row + 1
    return replace(
        life, phase=Phase.WAITING, failures_in_a_row=failures, restart_at=now + backoff(policy, failures)
    )


def describe(life: ComponentLife, *, now: float) -> str:
    """One line for `mlops status` and the dashboard's banner."""
    if life.phase == Phase.RUNNING:
        return f"running (restarted {life.restarts} time(s))" if life.restarts else "running"
    exited = f"exited with code {life.last_exit_code}" if life.last_exit_code is not None else "died"
    if life.phase == Phase.STARTING:
        return f"{exited}; restarted (attempt {life.failures_in_a_row}), waiting until healthy"
    wait = max(0.0, (life.restart_at or now) - now)
    return f"{exited}; restarting in {wait:.0f} s (attempt {life.failures_in_a_row})"
