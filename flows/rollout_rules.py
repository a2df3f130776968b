"""A roll-out's analysis and its next step, pure: a window of a serving's metrics (``tasks.serving_metrics.window``:
the difference of two scrapes, per version) and the roll-out's state in, a verdict and an action out
(``flows.rollout`` is the thin loop around it).

``judge`` checks each figure against the thresholds: the canary's error rate, its p99 against the stable
version's (a ratio, with a floor so that two sub-millisecond figures are not told apart by noise), and the
scenario's output checks (agreement, score correlation, forecast difference; each optional). Too few canary
requests make the window inconclusive: the step is held for another window, at most ``max_inconclusive``
times, then rolled back (a canary nobody reaches is not shown to be good).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mlops_lite.schemas.rollouts import Thresholds
from tasks.serving_metrics import Snapshot, Window, parse, quantile, window

__all__ = ["Snapshot", "Thresholds", "Window", "decide", "judge", "parse", "quantile", "window"]


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    reasons: tuple[str, ...]


def judge(w: Window, t: Thresholds) -> Verdict:
    """The window's verdict: every failed check is a reason."""
    if w.reset:
        return Verdict(Outcome.INCONCLUSIVE, ("the server restarted during the window",))
    if w.canary.requests < t.min_requests:
        return Verdict(
            Outcome.INCONCLUSIVE,
            (f"the canary answered {w.canary.requests:.0f} requests; a verdict needs {t.min_requests}",),
        )
    reasons: list[str] = []
    rate = w.canary.error_rate or 0.0
    if rate > t.max_error_rate:
        reasons.append(f"error rate {rate:.1%} > {t.max_error_rate:.1%}")
    if w.canary.p99 is not None:
        stable_p99 = max(w.stable.p99 or 0.0, t.p99_floor_seconds)
        canary_p99 = max(w.canary.p99, t.p99_floor_seconds)
        if canary_p99 > t.max_p99_ratio * stable_p99:
            reasons.append(
                f"p99 {w.canary.p99 * 1000:.1f} ms > {t.max_p99_ratio:g} × stable's "
                f"{(w.stable.p99 or 0.0) * 1000:.1f} ms"
            )
    c = w.comparison
    checks = (
        ("agreement", t.min_agreement, lambda v, lim: v < lim, "<"),
        ("score_correlation", t.min_score_correlation, lambda v, lim: v < lim, "<"),
        ("relative_diff", t.max_relative_diff, lambda v, lim: v > lim, ">"),
    )
    for name, limit, bad, sign in checks:
        value = c.get(name)
        if limit is not None and value is not None and bad(value, limit):
            reasons.append(f"{name.replace('_', ' ')} {value:.3f} {sign} {limit:g}")
    if reasons:
        return Verdict(Outcome.FAIL, tuple(reasons))
    return Verdict(Outcome.PASS, ())


class Action(StrEnum):
    ADVANCE = "advance"  # to the next step's weight
    PROMOTE = "promote"  # the last step passed: the canary becomes stable and champion
    HOLD = "hold"  # the same step for another window
    ROLLBACK = "rollback"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str
    weight: int | None = None  # the weight to set for ADVANCE


def decide(
    *, steps: list[int], step: int, verdict: Verdict, inconclusive: int, thresholds: Thresholds
) -> Decision:
    """What follows a window at ``steps[step]``; ``inconclusive``: the windows held at this step so far."""
    if verdict.outcome is Outcome.FAIL:
        return Decision(Action.ROLLBACK, "; ".join(verdict.reasons))
    if verdict.outcome is Outcome.INCONCLUSIVE:
        if inconclusive >= thresholds.max_inconclusive:
            return Decision(
                Action.ROLLBACK,
                f"{inconclusive + 1} windows without a verdict at {steps[step]} %: {verdict.reasons[0]}",
            )
        return Decision(Action.HOLD, verdict.reasons[0])
    if step + 1 >= len(steps):
        return Decision(Action.PROMOTE, f"every step passed (last: {steps[step]} %)")
    return Decision(Action.ADVANCE, f"{steps[step]} % passed", steps[step + 1])
