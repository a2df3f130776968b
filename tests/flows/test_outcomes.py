"""Outcomes of a launched flow run, without servers: accepted, succeeded, failed, lost to another request,
progress lines and the deadline's message."""

from __future__ import annotations

from flows.outcomes import (
    PUBLISHING,
    TRAINING,
    Decision,
    Outcome,
    Snapshot,
    decide,
    flow_error,
    progress_line,
    timeout_message,
    unclaimed,
)

JOB = "training job 'x'"
CONFLICT_MESSAGE = "Flow run encountered an exception: ConflictError: training job 'x' is already running"


def job(
    flow_state: str | None,
    status: str | None,
    holder: str | None = None,
    *,
    message: str | None = None,
    error: str | None = None,
    until_end: bool = False,
) -> Decision:
    return decide(
        TRAINING, JOB, "mine", Snapshot(flow_state, message, status, holder, error), until_end=until_end
    )


def test_no_wait_returns_once_this_flow_run_holds_the_job() -> None:
    assert job("SCHEDULED", "created").outcome is Outcome.FOLLOWING
    assert job("RUNNING", "created", "an-old-run").outcome is Outcome.FOLLOWING
    assert job("RUNNING", "starting", "mine") == Decision(Outcome.ACCEPTED)
    assert job("RUNNING", "running", "mine") == Decision(Outcome.ACCEPTED)
    # Held by another run: this run is about to fail on its claim, which is what decides (it could also
    # claim the job after the other run ended, and then it is accepted after all).
    assert job("RUNNING", "running", "other").outcome is Outcome.FOLLOWING
    # --wait follows to the end whoever holds the job now.
    assert job("RUNNING", "running", "mine", until_end=True).outcome is Outcome.FOLLOWING


def test_flow_run_that_lost_the_claim_is_a_conflict_naming_the_other_request() -> None:
    lost = job("FAILED", "running", "other", message=CONFLICT_MESSAGE)
    assert lost == Decision(
        Outcome.CONFLICT, "training job 'x' was already started by another request (flow run other)"
    )
    refused = job(
        "FAILED",
        "created",
        None,
        message="Flow run encountered an exception: ConflictError: "
        "algorithm 'ECOD' is disabled; training job 'x' cannot start",
    )
    assert refused == Decision(
        Outcome.CONFLICT, "algorithm 'ECOD' is disabled; training job 'x' cannot start"
    )


def test_failures_carry_the_reason() -> None:
    launch = job(
        "FAILED",
        "created",
        "mine",
        message="Flow run encountered an exception: RuntimeError: boom",
        error="launch failed: no port",
    )
    assert launch == Decision(Outcome.FAILED, "training job 'x': flow run failed: launch failed: no port")
    crashed = job(
        "CRASHED", "starting", "mine", message="Flow run process exited with non-zero status code -9."
    )
    assert crashed.outcome is Outcome.FAILED and "exited with non-zero status code -9" in crashed.message  # type: ignore[operator]
    # The train flow completes when the job ended, whether it trained or not.
    assert job("COMPLETED", "completed", "mine", until_end=True) == Decision(Outcome.SUCCEEDED)
    assert job("COMPLETED", "failed", "mine", error="fit exploded", until_end=True) == Decision(
        Outcome.FAILED, "training job 'x' failed: fit exploded"
    )


def test_publish_already_done_by_another_request_is_a_conflict() -> None:
    snap = Snapshot("COMPLETED", None, "published", "other")
    assert decide(PUBLISHING, "release 'v1'", "mine", snap, until_end=True) == Decision(
        Outcome.CONFLICT, "release 'v1' was already published by another request (flow run other)"
    )
    held = Snapshot(
        "FAILED",
        "Flow run encountered an exception: ConflictError: release 'v1' is publishing; it "
        "cannot be published now",
        "publishing",
        "other",
    )
    assert decide(PUBLISHING, "release 'v1'", "mine", held, until_end=True) == Decision(
        Outcome.CONFLICT, "release 'v1' is already publishing for another request (flow run other)"
    )
    mine = Snapshot("COMPLETED", None, "published", "mine")
    assert decide(PUBLISHING, "release 'v1'", "mine", mine, until_end=True) == Decision(Outcome.SUCCEEDED)


def test_unclaimed_work_is_judged_by_its_flow_run() -> None:
    serving = unclaimed("serving")
    assert (
        decide(serving, "serving 's'", "mine", Snapshot("RUNNING", None, "starting"), until_end=True).outcome
        is Outcome.FOLLOWING
    )
    assert decide(
        serving, "serving 's'", "mine", Snapshot("COMPLETED", None, None), until_end=True
    ) == Decision(Outcome.SUCCEEDED)
    failed = decide(
        serving,
        "serving 's'",
        "mine",
        Snapshot("FAILED", "Flow run encountered an exception: TimeoutError: not ready", "failed"),
        until_end=True,
    )
    assert failed == Decision(Outcome.FAILED, "serving 's': flow run failed: TimeoutError: not ready")


def test_progress_lines_on_changes_and_every_interval() -> None:
    first = Snapshot("SCHEDULED", None, "created")
    assert (
        progress_line(JOB, first, None, 0.2, 0.2, 15)
        == "[    0s] training job 'x': status created, flow run SCHEDULED"
    )
    assert progress_line(JOB, first, first, 5, 5, 15) is None
    running = Snapshot("RUNNING", None, "running", "mine")
    assert (
        progress_line(JOB, running, first, 7, 2, 15)
        == "[    7s] training job 'x': status running, flow run RUNNING"
    )
    assert progress_line(JOB, running, running, 30, 15, 15) == (
        "[   30s] still waiting: training job 'x': status running, flow run RUNNING"
    )


def test_deadline_messages_say_what_goes_on_and_how_to_follow() -> None:
    running = Snapshot("RUNNING", None, "running", "mine")
    assert timeout_message(JOB, "mine", running, 3, until_end=True, follow="mlops jobs status 1") == (
        "training job 'x' has not finished after 3 s (status running, flow run RUNNING); it keeps running — "
        "follow it with `mlops jobs status 1`"
    )
    queued = timeout_message(
        JOB,
        "mine",
        Snapshot("SCHEDULED", None, "created"),
        120,
        until_end=False,
        follow="mlops jobs status 1",
    )
    assert "was not picked up within 120 s" in queued and "is the flow runner (`mlops up`) running?" in queued


def test_flow_error_drops_prefects_preamble() -> None:
    assert flow_error(CONFLICT_MESSAGE) == "ConflictError: training job 'x' is already running"
    assert flow_error(None) is None
