"""The progressive roll-out of a serving's canary, as a Prefect flow: the thin loop around ``flows.rollout_rules``.

At each step the flow sets the step's weight (on the catalog, then on the running server:
``tasks.serving_traffic``), scrapes the server's ``/metrics`` at the start and the end of the dwell time, and
judges the window: pass → the next step, or promote after the last (the canary becomes the serving's stable
version and the model's champion); fail → rollback (the canary is taken off at once); too few canary requests →
the step is held for another window. While the window runs the catalog is read every ``poll`` seconds: a pause or
an abort by a person ends the window unjudged, and a canary whose error rate passes the threshold over at least
``min_requests`` requests is rolled back at once, without waiting for the window's end.

Every decision is recorded (``rollout_decision``, shown by the dashboard and the API) and published on NATS
(``{namespace}.events.rollout``). Restart-safe: the flow reads the roll-out's step from the catalog, so a run
started again after a restart (``resume_rollouts``, from the scheduled sync) goes on from the step it was at with
a fresh window, and the server's traffic is set from the catalog before anything else.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from catalog.db import session_scope
from catalog.models import ACTIVE_ROLLOUTS, DesiredState, Rollout, RolloutStatus, Serving
from catalog.scoping import SYSTEM
from catalog.services import rollouts as rollout_service
from catalog.services import serving as serving_service
from flows.launch import PrefectUnreachable, read_flow_run, run_flow
from flows.rollout_rules import Action, Decision, Thresholds, decide, judge
from tasks import events
from tasks.serving_metrics import Window, scrape, window
from tasks.serving_traffic import apply_traffic, runs_wanted

MAX_POLL_SECONDS = 1.0


def _read(rollout_id: int) -> tuple[Rollout, Serving]:
    with session_scope() as session:
        rollout = session.get(Rollout, rollout_id)
        if rollout is None:
            raise LookupError(f"roll-out {rollout_id} not found")
        serving = session.get(Serving, rollout.serving_id)
        assert serving is not None
        session.expunge(rollout)
        session.expunge(serving)
        return rollout, serving


def _publish(event: str, rollout: Rollout, serving: Serving, reason: str, figures: Any = None) -> None:
    events.publish_rollout(event, rollout=rollout, scenario=serving.scenario, reason=reason, figures=figures)


def _record(rollout_id: int, action: str, reason: str, figures: dict[str, Any] | None = None) -> None:
    with session_scope() as session:
        rollout = session.get(Rollout, rollout_id)
        assert rollout is not None
        rollout_service.record(session, rollout=rollout, action=action, reason=reason, figures=figures)


def _held(rollout_id: int, step: int) -> int:
    """Windows held at ``step`` since the step began."""
    with session_scope() as session:
        rows = rollout_service.decisions(session, actor=SYSTEM, rollout_id=rollout_id)
    count = 0
    for row in reversed(rows):
        if row.step != step or row.action not in ("hold", "pause", "resume", "resume_after_restart"):
            break
        count += row.action == "hold"
    return count


def _window(rollout: Rollout, serving: Serving, thresholds: Thresholds, dwell: float) -> Window | None:
    """The step's analysis window; None when a person paused or aborted the roll-out meanwhile."""
    poll = min(MAX_POLL_SECONDS, max(0.2, dwell / 20))
    before = scrape(serving)
    started = time.monotonic()
    stable, canary = str(rollout.stable_version), str(rollout.canary_version)
    while True:
        remaining = dwell - (time.monotonic() - started)
        time.sleep(max(0.0, min(poll, remaining)))
        current, _ = _read(rollout.id)  # type: ignore[arg-type]
        if current.status != RolloutStatus.RUNNING:
            return None
        w = window(before, scrape(serving), stable=stable, canary=canary)
        # A canary failing requests is taken off at once, not at the window's end.
        early = (
            w.canary.requests >= thresholds.min_requests
            and (w.canary.error_rate or 0) > thresholds.max_error_rate
        )
        if early or time.monotonic() - started >= dwell:
            return w


def _act(rollout: Rollout, serving: Serving, decision: Decision) -> bool:
    """Carry ``decision`` out; returns whether the roll-out goes on."""
    rid = rollout.id
    assert rid is not None
    if decision.action is Action.ADVANCE:
        with session_scope() as session:
            rollout_service.set_step(session, rollout_id=rid, step=rollout.step + 1)
        return True
    if decision.action is Action.HOLD:
        return True
    status = RolloutStatus.PROMOTED if decision.action is Action.PROMOTE else RolloutStatus.ROLLED_BACK
    with session_scope() as session:
        rollout_service.finish(session, rollout_id=rid, status=status, reason=decision.reason)
    return False


@flow(name="serving-rollout")
def serving_rollout(rollout_id: int) -> dict[str, Any]:
    """Roll the canary out step by step until it is promoted or rolled back (or a person aborts it)."""
    logger = get_run_logger()
    rollout, serving = _read(rollout_id)
    this_run = flow_run.get_id() or f"inline-{time.monotonic_ns()}"
    earlier = rollout.flow_run_id
    resumed = earlier is not None and earlier != this_run
    if resumed and _live(earlier):  # type: ignore[arg-type]
        logger.info("roll-out %s is run by flow run %s already", rollout_id, earlier)
        return {"rollout_id": rollout_id, "status": rollout.status, "run_by": earlier}
    with session_scope() as session:
        claimed = rollout_service.claim_flow_run(
            session, rollout_id=rollout_id, expected=earlier, flow_run_id=this_run
        )
    if not claimed and earlier != this_run:
        logger.info("roll-out %s was claimed by another flow run meanwhile", rollout_id)
        return {"rollout_id": rollout_id, "status": rollout.status, "run_by": "another flow run"}
    if resumed and rollout.status in ACTIVE_ROLLOUTS:
        reason = (
            f"the platform restarted: step {rollout.step + 1} of {len(rollout.steps)} starts a new window"
        )
        _record(rollout_id, "resume_after_restart", reason)
        _publish("resume_after_restart", rollout, serving, reason)
    elif not resumed:
        _publish(
            "started", rollout, serving, f"canary {rollout.canary_version} over {rollout.stable_version}"
        )
    thresholds = Thresholds.model_validate(rollout.thresholds)
    while True:
        rollout, serving = _read(rollout_id)
        if rollout.status == RolloutStatus.PAUSED:
            time.sleep(MAX_POLL_SECONDS)
            continue
        if rollout.status != RolloutStatus.RUNNING:
            break
        if rollout.weight != rollout.steps[rollout.step] or serving.canary_weight != rollout.weight:
            with session_scope() as session:
                if not rollout_service.set_step(session, rollout_id=rollout_id, step=rollout.step):
                    continue
        apply_traffic(serving.id)  # type: ignore[arg-type]
        rollout, serving = _read(rollout_id)
        w = _window(rollout, serving, thresholds, rollout.dwell_seconds)
        if w is None:
            continue
        verdict = judge(w, thresholds)
        decision = decide(
            steps=rollout.steps,
            step=rollout.step,
            verdict=verdict,
            inconclusive=_held(rollout_id, rollout.step),
            thresholds=thresholds,
        )
        figures = {**w.figures(), "verdict": verdict.outcome.value, "reasons": list(verdict.reasons)}
        logger.info(
            "roll-out %s at %s %%: %s (%s)", rollout_id, rollout.weight, decision.action, decision.reason
        )
        _record(rollout_id, decision.action.value, decision.reason, figures)
        goes_on = _act(rollout, serving, decision)
        if not goes_on:
            # Promoted or rolled back: the server runs it before anyone is told (a broken canary's share ends now).
            apply_traffic(serving.id)  # type: ignore[arg-type]
        rollout, serving = _read(rollout_id)
        _publish(decision.action.value, rollout, serving, decision.reason, figures)
        if not goes_on:
            break
    # Whatever ended it (promotion, rollback, a person's abort), the server runs what the catalog says now.
    applied = apply_traffic(serving.id)  # type: ignore[arg-type]
    rollout, serving = _read(rollout_id)
    return {"rollout_id": rollout_id, "status": rollout.status, "reason": rollout.reason, "traffic": applied}


@flow(name="serving-traffic")
def serving_traffic(serving_id: int) -> dict[str, Any]:
    """Make the serving's running server run the traffic its record says (after a change by a person, an abort)."""
    with session_scope() as session:
        serving = serving_service.get_serving(session, actor=SYSTEM, serving_id=serving_id)
    if serving.desired_state != DesiredState.RUNNING:
        return {
            "serving_id": serving_id,
            "applied": None,
            "why": "not meant to run: its next start applies it",
        }
    return {"serving_id": serving_id, "applied": apply_traffic(serving_id)}


LIVE_STATES = frozenset({"SCHEDULED", "PENDING", "RUNNING", "CANCELLING"})


def _live(flow_run_id: str) -> bool:
    """Whether the flow run is waiting or running (unknown to Prefect, or Prefect unreachable: not live)."""
    try:
        return read_flow_run(flow_run_id).state in LIVE_STATES
    except (PrefectUnreachable, ValueError):
        return False


def resume_rollouts() -> list[int]:
    """Start the flow again of each active roll-out whose flow run is gone (the platform restarted under it);
    returns their ids. A roll-out whose run cannot be read is left alone (Prefect unreachable: the next sync)."""
    with session_scope() as session:
        active = [(r.id, r.flow_run_id) for r in rollout_service.active_rollouts(session)]
    resumed: list[int] = []
    for rollout_id, run_id in active:
        if run_id is not None and run_id.startswith("inline-"):
            continue  # run in a process of its own (a test, a script): not the runner's to resume
        try:
            live = run_id is not None and read_flow_run(run_id).state in LIVE_STATES
        except PrefectUnreachable:
            continue
        if not live and run_flow("serving-rollout", {"rollout_id": rollout_id}, wait=False).ok:
            resumed.append(rollout_id)  # type: ignore[arg-type]
    return resumed


def reconcile_traffic(servings: list[Serving], running: set[int]) -> dict[str, str]:
    """Apply its traffic to each running server that runs another (a restarted server starts with its stable
    version only); returns the failures by serving id. Servings without a canary or a shadow are asked too, so a
    canary taken off while the server was away is taken off it."""
    failed: dict[str, str] = {}
    for serving in servings:
        sid = serving.id or 0
        if sid not in running or runs_wanted(sid) is not False:
            continue
        try:
            apply_traffic(sid)
        except Exception as exc:  # noqa: BLE001 - recorded; the other servings are still reconciled
            failed[str(sid)] = f"{type(exc).__name__}: {exc}"
    return failed
