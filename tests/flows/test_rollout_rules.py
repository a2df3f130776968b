"""The roll-out's analysis and decisions, pure: windows of what the inference server's own metrics render
(``algorithms.serve.metrics.ServerMetrics``), judged against thresholds, and the action that follows."""

from __future__ import annotations

import pytest

from algorithms.serve.metrics import ServerMetrics
from flows.rollout_rules import Action, Outcome, Thresholds, Verdict, decide, judge, parse, window


def serve(metrics: ServerMetrics, version: str, count: int, *, seconds: float, errors: int = 0) -> None:
    for i in range(count):
        metrics.count_request(500 if i < errors else 200, version)
        metrics.observe(version, seconds)


def compared(metrics: ServerMetrics, records: int, agree: int) -> None:
    metrics.compare.labels("2", "1", "records").inc(records)
    metrics.compare.labels("2", "1", "agree").inc(agree)


def judged(*, canary_seconds: float, errors: int = 0, agree: int = 30, count: int = 30) -> Verdict:
    metrics = ServerMetrics()
    before = parse(metrics.render().decode())
    serve(metrics, "1", 300, seconds=0.0008)
    serve(metrics, "2", count, seconds=canary_seconds, errors=errors)
    compared(metrics, count, agree)
    return judge(window(before, parse(metrics.render().decode()), stable="1", canary="2"), Thresholds())


def test_judge_passes_a_good_canary_and_names_each_failure() -> None:
    assert judged(canary_seconds=0.0009) == Verdict(Outcome.PASS, ())
    # Sub-millisecond to ~2 ms is under the floor: noise, not a regression.
    assert judged(canary_seconds=0.0018).outcome is Outcome.PASS
    slow = judged(canary_seconds=0.02)
    assert slow.outcome is Outcome.FAIL and slow.reasons[0].startswith("p99 ")
    broken = judged(canary_seconds=0.0009, errors=6, agree=20)
    assert broken.outcome is Outcome.FAIL
    assert broken.reasons[0] == "error rate 20.0% > 2.0%" and broken.reasons[1].startswith("agreement 0.667")
    few = judged(canary_seconds=0.0009, count=5, agree=5)
    assert few.outcome is Outcome.INCONCLUSIVE and "5 requests" in few.reasons[0]


def test_decisions_follow_the_steps() -> None:
    t, steps = Thresholds(max_inconclusive=2), [10, 50, 100]
    ok, bad = Verdict(Outcome.PASS, ()), Verdict(Outcome.FAIL, ("error rate 9% > 2%",))
    unsure = Verdict(Outcome.INCONCLUSIVE, ("too few",))
    assert decide(steps=steps, step=0, verdict=ok, inconclusive=0, thresholds=t).weight == 50
    assert decide(steps=steps, step=2, verdict=ok, inconclusive=0, thresholds=t).action is Action.PROMOTE
    failed = decide(steps=steps, step=1, verdict=bad, inconclusive=0, thresholds=t)
    assert (failed.action, failed.reason) == (Action.ROLLBACK, "error rate 9% > 2%")
    assert decide(steps=steps, step=1, verdict=unsure, inconclusive=1, thresholds=t).action is Action.HOLD
    assert decide(steps=steps, step=1, verdict=unsure, inconclusive=2, thresholds=t).action is Action.ROLLBACK


def test_thresholds_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="less than or equal to 1"):
        Thresholds(max_error_rate=3)
    with pytest.raises(ValueError, match="Extra inputs"):
        Thresholds.model_validate({"max_eror_rate": 0.1})
