"""Launching work through the platform API and following it to an honest outcome (decided by
``flows.outcomes``, from the progress the API reports: the flow run's state beside the row's status).

``--wait`` follows the work to its end; ``--no-wait`` returns once the flow run has taken the work on (its id
is on the row) or failed to. Either way within a deadline (``--timeout``: ``cli.common.TimeoutOpt``, defaults
in ``infra.settings.prefect``), with progress on stderr (``--json`` stdout stays parseable): a line on every
change of the flow run's state or the row's status, and one every ``MLOPS_PREFECT_PROGRESS_SECONDS`` with the
elapsed time. The command prints its row, then calls ``conclude``, which exits with the outcome's ``ExitCode``.

Only command bodies use this module, but it imports nothing heavy at module level all the same (see cli.main).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer

from cli.common import ExitCode, fail
from flows.outcomes import (
    PUBLISHING,
    TRAINING,
    Decision,
    Outcome,
    Snapshot,
    Work,
    decide,
    progress_line,
    timeout_message,
    unclaimed,
)

if TYPE_CHECKING:
    from infra.settings import PrefectSettings
    from mlops_lite.schemas.runs import Launch, Progress

__all__ = ["PUBLISHING", "TRAINING", "Target", "conclude", "follow", "launch_and_follow", "unclaimed"]


@dataclass(frozen=True, slots=True)
class Target:
    """What a launched flow works on: how its progress is read (through the API), how a user follows it."""

    work: Work
    label: str
    follow: str
    progress: Callable[[str], Progress]  # flow run id -> the API's progress answer


@dataclass(frozen=True, slots=True)
class Followed:
    flow_run_id: str | None
    flow_state: str | None
    decision: Decision


def timing() -> PrefectSettings:
    """The deadlines and intervals of following (``MLOPS_PREFECT_*``). The CLI follows through the API and never
    talks to Prefect: the auth string is given a blank rather than read from (or generated into) this machine's
    data directory, which a user's machine does not have."""
    from infra.settings import PrefectSettings

    return PrefectSettings(auth_string="")


def launch_and_follow(
    launch: Callable[[], Launch], target: Target, *, wait: bool, timeout: float | None = None
) -> Followed:
    """Launch the work (an API call answering a ``Launch``) and follow it until it is decided (or the
    deadline passes)."""
    settings = timing()
    deadline = timeout or (settings.wait_timeout_seconds if wait else settings.accept_timeout_seconds)
    launched = launch()
    try:
        return follow(target, launched, until_end=wait, timeout=deadline)
    except KeyboardInterrupt:
        fail(
            f"stopped following flow run {launched.flow_run_id}; the work goes on: follow it with "
            f"`{target.follow}`",
            130,
        )
        raise  # unreachable: fail() exits


def follow(target: Target, launched: Launch, *, until_end: bool, timeout: float) -> Followed:
    settings = timing()
    ours = launched.flow_run_id
    if ours is None:
        raise RuntimeError(f"flow run of {target.label} has no id to follow")
    started = last_line = time.monotonic()
    previous: Snapshot | None = None
    while True:
        seen = target.progress(ours)
        snap = Snapshot(seen.flow_state, seen.flow_message, seen.status, seen.row_flow_run_id, seen.error)
        decision = decide(target.work, target.label, ours, snap, until_end=until_end)
        if decision.done:
            return Followed(ours, snap.flow_state, decision)
        now = time.monotonic()
        line = progress_line(
            target.label, snap, previous, now - started, now - last_line, settings.progress_seconds
        )
        if line:
            typer.echo(line, err=True)
            last_line = now
        previous = snap
        if now - started >= timeout:
            message = timeout_message(
                target.label, ours, snap, timeout, until_end=until_end, follow=target.follow
            )
            return Followed(ours, snap.flow_state, Decision(Outcome.TIMED_OUT, message))
        time.sleep(min(settings.follow_poll_seconds, max(0.05, timeout - (now - started))))


_CODES = {
    Outcome.FAILED: ExitCode.FAILED,
    Outcome.CONFLICT: ExitCode.CONFLICT,
    Outcome.TIMED_OUT: ExitCode.TIMED_OUT,
}


def conclude(followed: Followed) -> None:
    """Exit with the outcome's code and its one-line message; return quietly when it succeeded or was accepted."""
    decision = followed.decision
    if decision.outcome in _CODES:
        fail(decision.message or decision.outcome.value, _CODES[decision.outcome])
