"""A roll-out's analysis and its next step, pure: two scrapes of a serving's ``/metrics`` and the roll-out's
state in, a verdict and an action out (``flows.rollout`` is the thin loop around it).

The window is the difference of two scrapes (counters only grow; a server restarted in between shows smaller
counters, and the window is then refused as ``reset``). For the stable and the canary version apart it gives
the requests answered, the errors (HTTP 5xx: the model failed; a 4xx is the caller's and is the same for both),
the p50/p99 latency (from the histogram buckets, linear within a bucket as Prometheus'
``histogram_quantile``), and the comparison of the canary's answers with the stable version's on the same
requests (``algorithms.serve.compare``: the stable version answers a copy of each canary request).

``judge`` checks each figure against the thresholds: the canary's error rate, its p99 against the stable
version's (a ratio, with a floor so that two sub-millisecond figures are not told apart by noise), and the
scenario's output checks (agreement, score correlation, forecast difference; each optional). Too few canary
requests make the window inconclusive: the step is held for another window, at most ``max_inconclusive``
times, then rolled back (a canary nobody reaches is not shown to be good).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from algorithms.serve.compare import summarize
from mlops_lite.schemas.rollouts import Thresholds

REQUESTS = "mlops_predict_requests"
LATENCY = "mlops_predict_latency_seconds"
COMPARE = "mlops_compare_sums"

Labels = tuple[tuple[str, str], ...]
Snapshot = dict[tuple[str, Labels], float]


def parse(text: str) -> Snapshot:
    """The samples of a Prometheus text scrape: (sample name, sorted labels) → value."""
    out: Snapshot = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return out


@dataclass(frozen=True, slots=True)
class VersionWindow:
    requests: float = 0.0
    errors: float = 0.0
    p50: float | None = None
    p99: float | None = None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


@dataclass(frozen=True, slots=True)
class Window:
    stable: VersionWindow
    canary: VersionWindow
    comparison: dict[str, float] = field(default_factory=dict)
    reset: bool = False

    def figures(self) -> dict[str, Any]:
        return {
            "stable": _figures(self.stable),
            "canary": _figures(self.canary),
            "comparison": self.comparison,
        }


def _figures(v: VersionWindow) -> dict[str, Any]:
    return {
        "requests": v.requests,
        "errors": v.errors,
        "error_rate": v.error_rate,
        "p50": v.p50,
        "p99": v.p99,
    }


def _delta(before: Snapshot, after: Snapshot, name: str, **match: str) -> dict[Labels, float]:
    out: dict[Labels, float] = {}
    for (sample, labels), value in after.items():
        if sample != name:
            continue
        if any(dict(labels).get(k) != v for k, v in match.items()):
            continue
        out[labels] = value - before.get((sample, labels), 0.0)
    return out


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """``histogram_quantile``: ``buckets`` are (upper bound, cumulative count), +Inf last."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if math.isinf(upper):
                return lower  # above the highest finite bucket: its bound is all that is known
            if count == below:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return lower


def _version(before: Snapshot, after: Snapshot, version: str) -> VersionWindow:
    requests = errors = 0.0
    for labels, value in _delta(before, after, REQUESTS + "_total", version=version).items():
        requests += value
        if dict(labels).get("status", "").startswith("5"):
            errors += value
    buckets: dict[float, float] = defaultdict(float)
    for labels, value in _delta(before, after, LATENCY + "_bucket", version=version).items():
        buckets[float(dict(labels)["le"])] += value
    pairs = list(buckets.items())
    return VersionWindow(requests, errors, quantile(0.5, pairs), quantile(0.99, pairs))


def window(before: Snapshot, after: Snapshot, *, stable: str, canary: str) -> Window:
    """What happened between two scrapes, for ``stable`` and ``canary`` (versions as the server labels them)."""
    # Counters only grow: one that shrank or vanished means another process answers now.
    reset = any(
        after.get(key, -1.0) < value for key, value in before.items() if key[0].endswith(("_total", "_count"))
    )
    sums: dict[str, float] = {}
    for labels, value in _delta(
        before, after, COMPARE + "_total", candidate=canary, reference=stable
    ).items():
        sums[dict(labels)["stat"]] = value
    return Window(_version(before, after, stable), _version(before, after, canary), summarize(sums), reset)


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
