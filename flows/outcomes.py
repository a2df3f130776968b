"""What a launched flow run achieved, decided from its Prefect state and the catalog row it works on (pure:
state in, outcome out; the edges read the state and print).

A flow that takes work on claims its row with a conditional update that records its own flow run id
(``claim_start`` for jobs, ``claim_publish`` for releases). So "the row is held by my flow run" means this
request was accepted, and a row held by another flow run, with my flow run failed on a conflict, means another
request got there first. Work without a claim (servings, stopping a job) is judged by the flow run alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

FINAL_STATES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})
FAILED_STATES = frozenset({"FAILED", "CRASHED", "CANCELLED"})
NOT_STARTED_STATES = frozenset({"SCHEDULED", "PENDING"})
_PREFECT_PREFIX = "Flow run encountered an exception: "


class Outcome(StrEnum):
    FOLLOWING = "following"  # not decided yet
    ACCEPTED = "accepted"  # this request holds the work, which goes on (the answer of --no-wait)
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CONFLICT = "conflict"  # another request holds or did the work, or its state refused it
    TIMED_OUT = "timed_out"  # the caller's deadline passed; the work goes on


@dataclass(frozen=True, slots=True)
class Work:
    """The kind of work a flow does on a catalog row, and how the row's status reads."""

    noun: str  # "training job", "release", "serving"
    claims: bool  # the flow claims the row and records its flow run id on it
    claimed: frozenset[str] = frozenset()  # taken on, going on
    succeeded: frozenset[str] = frozenset()
    failed: frozenset[str] = frozenset()
    held_by_other: str = "was already started by another request"  # "…" (flow run X)
    done_by_other: str = "was already done by another request"


TRAINING = Work(
    noun="training job",
    claims=True,
    claimed=frozenset({"starting", "running"}),
    succeeded=frozenset({"completed"}),
    failed=frozenset({"failed", "stopped"}),
    held_by_other="was already started by another request",
    done_by_other="was already started by another request",
)
PUBLISHING = Work(
    noun="release",
    claims=True,
    claimed=frozenset({"publishing"}),
    succeeded=frozenset({"published", "archived"}),
    failed=frozenset({"failed"}),
    held_by_other="is already publishing for another request",
    done_by_other="was already published by another request",
)


def unclaimed(noun: str) -> Work:
    """Work judged by its flow run alone (servings, stopping a job)."""
    return Work(noun=noun, claims=False)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One look at the flow run (``flow_state`` None: unknown to Prefect) and at its row (``row_status`` None:
    the row is gone, e.g. a deleted serving)."""

    flow_state: str | None
    flow_message: str | None
    row_status: str | None
    row_flow_run_id: str | None = None
    row_error: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    message: str | None = None

    @property
    def done(self) -> bool:
        return self.outcome is not Outcome.FOLLOWING


def flow_error(message: str | None) -> str | None:
    """The exception a flow run failed with, without Prefect's preamble."""
    return message.removeprefix(_PREFECT_PREFIX).strip() if message else None


def is_conflict(message: str | None) -> bool:
    return bool(message) and flow_error(message).startswith("ConflictError:")  # type: ignore[union-attr]


def decide(work: Work, label: str, ours: str | None, snap: Snapshot, *, until_end: bool) -> Decision:
    """The outcome of the flow run ``ours`` launched on ``label`` (e.g. "training job 'x'").

    ``until_end``: the caller follows the work to its end (--wait); otherwise it returns once the work is
    accepted (its flow run holds the row) or refused.
    """
    mine = work.claims and ours is not None and snap.row_flow_run_id == ours
    other = snap.row_flow_run_id if work.claims and snap.row_flow_run_id not in (None, ours) else None
    if snap.flow_state in FAILED_STATES:
        if is_conflict(snap.flow_message):
            if other and snap.row_status in work.claimed | work.succeeded:
                return Decision(Outcome.CONFLICT, f"{label} {work.held_by_other} (flow run {other})")
            return Decision(Outcome.CONFLICT, _strip_kind(flow_error(snap.flow_message)))
        reason = (snap.row_error if mine and snap.row_error else None) or flow_error(snap.flow_message)
        return Decision(
            Outcome.FAILED, f"{label}: flow run {snap.flow_state.lower()}: {reason or 'no reason given'}"
        )
    if snap.flow_state == "COMPLETED":
        if other:  # the flow found the work done by another run and left it as it was
            return Decision(Outcome.CONFLICT, f"{label} {work.done_by_other} (flow run {other})")
        if work.claims and snap.row_status in work.failed:
            return Decision(
                Outcome.FAILED, f"{label} {snap.row_status}: {snap.row_error or 'no reason given'}"
            )
        if work.claims and snap.row_status in work.claimed:
            if not until_end:
                return Decision(Outcome.ACCEPTED)
            return Decision(Outcome.FAILED, f"{label}: flow run completed but it is still {snap.row_status}")
        return Decision(Outcome.SUCCEEDED)
    if not until_end and mine and snap.row_status in work.claimed | work.succeeded:
        return Decision(Outcome.ACCEPTED)
    return Decision(Outcome.FOLLOWING)


def _strip_kind(error: str | None) -> str:
    return (error or "conflict").removeprefix("ConflictError:").strip()


def status_text(snap: Snapshot) -> str:
    row = "gone" if snap.row_status is None else snap.row_status
    return f"status {row}, flow run {snap.flow_state or 'unknown'}"


def progress_line(
    label: str, snap: Snapshot, previous: Snapshot | None, elapsed: float, since_line: float, every: float
) -> str | None:
    """A line for stderr: on every change of the flow run's state or the row's status, and otherwise once
    ``every`` seconds have passed since the last line; None when nothing is to be printed."""
    changed = previous is None or (snap.flow_state, snap.row_status) != (
        previous.flow_state,
        previous.row_status,
    )
    if changed:
        return f"[{elapsed:5.0f}s] {label}: {status_text(snap)}"
    if since_line >= every:
        return f"[{elapsed:5.0f}s] still waiting: {label}: {status_text(snap)}"
    return None


def timeout_message(
    label: str, ours: str | None, snap: Snapshot, timeout: float, *, until_end: bool, follow: str
) -> str:
    """Why the caller gave up at its deadline, and how to follow the work that goes on without it."""
    if snap.flow_state in NOT_STARTED_STATES or snap.flow_state is None:
        return (
            f"flow run {ours} for {label} was not picked up within {timeout:g} s (it is "
            f"{snap.flow_state or 'unknown'}): is the flow runner (`mlops up`) running? It stays queued and "
            f"runs when a runner takes it; follow it with `{follow}`"
        )
    if until_end:
        return (
            f"{label} has not finished after {timeout:g} s ({status_text(snap)}); it keeps running — "
            f"follow it with `{follow}`"
        )
    return (
        f"{label} was not taken on within {timeout:g} s ({status_text(snap)}); the flow run goes on — "
        f"follow it with `{follow}`"
    )
