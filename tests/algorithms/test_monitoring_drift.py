"""Drift statistics (algorithms/monitoring/drift.py), pure: stationary windows stay under the default threshold
(the false-alarm rate over 50 windows is at most 5 % — measured here, and printed), shifted ones pass it, for
numbers and for categories; edge cases (constant reference, empty or non-finite windows) give figures, not
errors."""

from __future__ import annotations

import numpy as np
import pytest

from algorithms.monitoring.drift import (
    DEFAULT_PSI,
    categorical_drift,
    edges,
    numeric_drift,
    psi,
    shares,
)

WINDOWS = 50


def stream(rng: np.random.Generator, n: int, shift: float = 0.0, scale: float = 1.0) -> np.ndarray:
    # A skewed, heavy-ish tailed input, not a textbook normal: a log-normal plus noise.
    return rng.lognormal(0.0, 0.6, n) * scale + rng.normal(0, 0.3, n) + shift


@pytest.mark.parametrize("window", [30, 100, 500, 5000])
def test_stationary_windows_rarely_alarm(window: int) -> None:
    rng = np.random.default_rng(window)
    reference = stream(rng, 5000)
    alarms = [numeric_drift(reference, stream(rng, window)).breached() for _ in range(WINDOWS)]
    rate = sum(bool(a) for a in alarms) / WINDOWS
    print(f"false-alarm rate, windows of {window}: {rate:.0%}")
    assert None not in alarms and rate <= 0.05


@pytest.mark.parametrize(("shift", "scale"), [(0.7, 1.0), (0.0, 1.8), (-0.5, 0.6)])
def test_shifted_windows_alarm(shift: float, scale: float) -> None:
    rng = np.random.default_rng(7)
    reference = stream(rng, 5000)
    found = [numeric_drift(reference, stream(rng, 500, shift, scale)) for _ in range(20)]
    assert all(d.breached() for d in found), [round(d.psi, 3) for d in found]
    assert all(d.p_value is not None and d.p_value < 1e-3 for d in found)
    assert all(d.distance > 0.2 for d in found)


def test_psi_is_zero_for_equal_shares_and_grows_with_the_difference() -> None:
    even = np.full(4, 0.25)
    assert psi(even, even) == 0.0
    small, large = np.array([0.3, 0.2, 0.25, 0.25]), np.array([0.7, 0.1, 0.1, 0.1])
    assert 0 < psi(even, small) < psi(even, large)
    # An empty bin is floored, not infinite.
    assert np.isfinite(psi(even, np.array([1.0, 0.0, 0.0, 0.0])))


def test_bins_follow_the_reference() -> None:
    reference = np.arange(1000, dtype=float)
    inner = edges(reference)
    assert inner.size == 9
    assert shares(reference, inner) == pytest.approx(np.full(10, 0.1), abs=0.002)
    constant = edges(np.zeros(100))
    assert constant.tolist() == [0.0]
    assert shares(np.array([0.0, 0.0, 1.0, 2.0]), constant).tolist() == [0.5, 0.5]


def test_a_constant_reference_and_a_moved_window_drift() -> None:
    d = numeric_drift(np.zeros(500), np.ones(500))
    assert d.breached() and d.psi > 5 and d.distance == pytest.approx(1.0)  # scale 0: distance in raw units


def test_non_finite_values_are_left_out_and_counted() -> None:
    rng = np.random.default_rng(3)
    window = np.concatenate([stream(rng, 300), [np.nan, np.inf, -np.inf]])
    d = numeric_drift(stream(rng, 3000), window)
    assert d.dropped == 3 and d.n_window == 300 and not d.breached()


def test_small_windows_need_a_larger_psi_and_the_smallest_say_nothing() -> None:
    rng = np.random.default_rng(4)
    reference = stream(rng, 3000)
    small, large = numeric_drift(reference, stream(rng, 40)), numeric_drift(reference, stream(rng, 4000))
    assert small.noise() > DEFAULT_PSI > large.noise() > 0
    assert numeric_drift(reference, stream(rng, 20, shift=5)).breached() is None
    empty = numeric_drift(stream(rng, 3000), [])
    assert empty.n_window == 0 and empty.breached() is None


def test_categories_drift_by_mix_and_by_a_new_category() -> None:
    rng = np.random.default_rng(5)
    classes = ["cat", "dog", "bird"]
    reference = list(rng.choice(classes, 3000, p=[0.5, 0.3, 0.2]))
    steady = [
        categorical_drift(reference, list(rng.choice(classes, 400, p=[0.5, 0.3, 0.2]))) for _ in range(50)
    ]
    assert sum(bool(d.breached()) for d in steady) <= 0.05 * 50
    moved = categorical_drift(reference, list(rng.choice(classes, 400, p=[0.2, 0.3, 0.5])))
    assert moved.breached() and moved.distance == pytest.approx(0.3, abs=0.06)
    new = categorical_drift(reference, list(rng.choice([*classes, "fish"], 400, p=[0.3, 0.2, 0.1, 0.4])))
    assert new.breached() and new.psi > DEFAULT_PSI
    assert categorical_drift(reference, []).breached() is None
