"""Launching a flow from the CLI and following it to an honest outcome (decided by ``flows.outcomes``).

``--wait`` follows the work to its end; ``--no-wait`` returns once the flow run has taken the work on (its id
is on the row) or failed to. Either way within a deadline (``--timeout``: ``cli.common.TimeoutOpt``, defaults
in ``infra.settings.prefect``), with progress on stderr (``--json`` stdout stays parseable): a line on every
change of the flow run's state or the row's status, and one every ``MLOPS_PREFECT_PROGRESS_SECONDS`` with the
elapsed time. Inline mode (``MLOPS_PREFECT_RUN_MODE=inline``) runs the flow to its end before this looks.
The command prints its row, then calls ``conclude``, which exits with the outcome's ``ExitCode``.

Only command bodies use this module, but it imports nothing heavy at module level all the same (see cli.main):
the catalog and Prefect are imported when a flow is launched or a row is read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
    from catalog.models import DatasetRelease, Serving, TrainJob
    from flows.launch import LaunchResult

Row = tuple[str | None, str | None, str | None]  # status, flow run id, error; status None: the row is gone


@dataclass(frozen=True, slots=True)
class Target:
    """What a launched flow works on: how its row reads, how a user follows it."""

    work: Work
    label: str
    follow: str
    read_row: Callable[[], Row]


@dataclass(frozen=True, slots=True)
class Followed:
    flow_run_id: str | None
    flow_state: str | None
    decision: Decision


def _row(model: type[Any], ident: int, status: str = "status") -> Callable[[], Row]:
    def read() -> Row:
        from catalog.db import session_scope

        with session_scope() as session:
            row = session.get(model, ident)
            if row is None:
                return None, None, None
            return str(getattr(row, status)), getattr(row, "flow_run_id", None), getattr(row, "error", None)

    return read


def job_target(job: TrainJob) -> Target:
    return Target(
        TRAINING, f"training job {job.name!r}", f"mlops jobs status {job.id}", _row(type(job), job.id or 0)
    )


def stop_target(job: TrainJob) -> Target:
    return Target(
        unclaimed("training job"),
        f"training job {job.name!r}",
        f"mlops jobs status {job.id}",
        _row(type(job), job.id or 0),
    )


def release_target(release: DatasetRelease) -> Target:
    return Target(
        PUBLISHING,
        f"release {release.version!r}",
        f"mlops datasets releases {release.dataset_id}",
        _row(type(release), release.id or 0),
    )


def serving_target(serving: Serving) -> Target:
    return Target(
        unclaimed("serving"),
        f"serving {serving.name!r}",
        f"mlops servings status {serving.id}",
        _row(type(serving), serving.id or 0, status="observed_state"),
    )


def launch_and_follow(
    flow: str, parameters: dict[str, Any], target: Target, *, wait: bool, timeout: float | None = None
) -> Followed:
    """Run ``flow`` and follow it until it is decided (or the deadline passes)."""
    from flows.launch import PrefectUnreachable, run_flow
    from infra.settings import get_settings

    settings = get_settings().prefect
    deadline = timeout or (settings.wait_timeout_seconds if wait else settings.accept_timeout_seconds)
    launched = run_flow(flow, parameters, wait=False)
    try:
        return follow(target, launched, until_end=wait, timeout=deadline)
    except PrefectUnreachable as exc:
        raise PrefectUnreachable(f"{exc} The work may go on: follow it with `{target.follow}`") from None
    except KeyboardInterrupt:
        fail(
            f"stopped following flow run {launched.flow_run_id}; the work goes on: follow it with "
            f"`{target.follow}`",
            130,
        )
        raise  # unreachable: fail() exits


def follow(target: Target, launched: LaunchResult, *, until_end: bool, timeout: float) -> Followed:
    from flows.launch import FlowRunView, read_flow_run
    from infra.settings import get_settings

    settings = get_settings().prefect
    ours = launched.flow_run_id
    view = FlowRunView(state=launched.state, message=launched.message)
    started = last_line = time.monotonic()
    previous: Snapshot | None = None
    while True:
        snap = Snapshot(view.state, view.message, *target.read_row())
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
        if ours is None:
            raise RuntimeError(f"flow run of {target.label} has no id to follow")
        view = read_flow_run(ours)


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
