"""A serving's metrics as the platform reads them, pure: the inference server's own metrics
(``algorithms.serve.metrics.ServerMetrics``) rendered, parsed, and the window between two scrapes per version."""

from __future__ import annotations

import math

import pytest

from algorithms.serve.metrics import ServerMetrics
from flows.rollout_rules import Outcome, Thresholds, judge
from tasks.serving_metrics import parse, quantile, versions, window
from tests.flows.test_rollout_rules import compared, serve


def test_a_window_is_the_difference_of_two_scrapes() -> None:
    metrics = ServerMetrics()
    serve(metrics, "1", 500, seconds=0.0007)
    before = parse(metrics.render().decode())
    serve(metrics, "1", 90, seconds=0.0007)
    serve(metrics, "2", 10, seconds=0.03, errors=1)
    compared(metrics, 10, 9)
    w = window(before, parse(metrics.render().decode()), stable="1", canary="2")
    assert (w.stable.requests, w.stable.errors, w.canary.requests, w.canary.errors) == (90, 0, 10, 1)
    assert 0.0005 <= w.stable.p99 <= 0.001 and 0.025 <= w.canary.p99 <= 0.05
    assert w.comparison == {"records": 10, "agreement": 0.9} and not w.reset
    assert versions(parse(metrics.render().decode())) == ["1", "2"]


def test_a_restarted_server_makes_the_window_inconclusive() -> None:
    old, new = ServerMetrics(), ServerMetrics()
    serve(old, "1", 100, seconds=0.001)
    serve(new, "2", 30, seconds=0.001)
    w = window(parse(old.render().decode()), parse(new.render().decode()), stable="1", canary="2")
    assert w.reset and judge(w, Thresholds()).outcome is Outcome.INCONCLUSIVE


def test_quantile_matches_histogram_quantile() -> None:
    buckets = [(0.001, 50.0), (0.01, 90.0), (0.1, 100.0), (math.inf, 100.0)]
    assert quantile(0.5, buckets) == pytest.approx(0.001)
    assert quantile(0.9, buckets) == pytest.approx(0.01)
    assert quantile(0.95, buckets) == pytest.approx(0.01 + 0.09 * 0.5)
    assert quantile(0.99, [(0.5, 0.0), (math.inf, 10.0)]) == 0.5
    assert quantile(0.5, [(math.inf, 0.0)]) is None
