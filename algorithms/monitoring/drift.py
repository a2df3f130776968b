"""Distribution drift between a reference sample and a window: pure functions over arrays.

The decision statistic is the population stability index (PSI) over bins fixed by the reference: for numbers
its deciles, for categories the categories themselves. Unlike a test's p-value, PSI does not shrink toward
"significant" as windows grow: on a busy serving every window of a stationary stream would fail a
Kolmogorov–Smirnov test at 5 % sooner or later, while PSI stays near ``(bins - 1) * (1/n + 1/m)``. Its usual
reading (below 0.1 stable, 0.1–0.25 moderate, above 0.25 major) gives the default threshold, 0.2. Small
windows are noisier than that: a drift counts only where PSI also passes the 99th percentile of its own
distribution without drift at these sample sizes (PSI is Jeffreys' divergence: times ``n*m/(n+m)`` it is about
chi-square with ``bins - 1`` degrees of freedom), so a window of 50 does not alarm on noise either.

Beside it, as figures a person reads: for numbers the two-sample KS statistic and p-value and the Wasserstein
distance in reference standard deviations (``scipy.stats``: maintained, exact, and already a dependency — a
drift library such as Evidently would bring a dashboard stack for three functions); for categories the total
variation distance. Non-finite values are left out and counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

BINS = 10
# A share of zero would make PSI infinite: an empty bin counts as this share when shares are given.
FLOOR = 1e-4
# Counts get half an observation more in every bin (Jeffreys' prior): a small window's empty bins are its
# sampling, not a drift, and are not priced as one.
PSEUDO_COUNT = 0.5
DEFAULT_PSI = 0.2
DEFAULT_MIN_WINDOW = 30
NOISE_QUANTILE = 0.99


@dataclass(frozen=True, slots=True)
class Drift:
    psi: float
    # Numbers: Wasserstein in reference standard deviations (raw units for a constant reference);
    # categories: total variation.
    distance: float
    n_reference: int
    n_window: int
    bins: int = 1
    ks: float | None = None
    p_value: float | None = None
    dropped: int = 0  # non-finite values of the window left out

    def noise(self, quantile: float = NOISE_QUANTILE) -> float:
        """The PSI that ``quantile`` of windows this size reach without any drift."""
        from scipy.stats import chi2

        if self.bins < 2 or not self.n_window or not self.n_reference:
            return 0.0
        return float(chi2.ppf(quantile, self.bins - 1)) * (1 / self.n_window + 1 / self.n_reference)

    def breached(self, psi: float = DEFAULT_PSI, min_window: int = DEFAULT_MIN_WINDOW) -> bool | None:
        """True above the threshold and the noise of these sizes, False below, None when a sample is too small
        to say."""
        if self.n_window < min_window or self.n_reference < min_window:
            return None
        return self.psi > max(psi, self.noise())


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI of two share vectors over the same bins (each summing to 1)."""
    e = np.maximum(expected, FLOOR)
    a = np.maximum(actual, FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_counts(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI of two count vectors over the same bins, smoothed by ``PSEUDO_COUNT``."""
    k = expected.size
    e = (expected + PSEUDO_COUNT) / (expected.sum() + PSEUDO_COUNT * k)
    a = (actual + PSEUDO_COUNT) / (actual.sum() + PSEUDO_COUNT * k)
    return float(np.sum((a - e) * np.log(a / e)))


def _finite(values: Iterable[float]) -> tuple[np.ndarray, int]:
    array = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float).ravel()
    keep = np.isfinite(array)
    return array[keep], int(array.size - keep.sum())


def edges(reference: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Inner bin edges: the reference's quantiles, each once (a constant reference has one edge)."""
    return np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))


def counts(values: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """How many ``values`` fall in each bin: below the first edge, between edges (right-closed), above the last."""
    return np.bincount(np.searchsorted(inner, values, side="left"), minlength=inner.size + 1)


def shares(values: np.ndarray, inner: np.ndarray) -> np.ndarray:
    return counts(values, inner) / max(values.size, 1)


def numeric_drift(reference: Iterable[float], window: Iterable[float], bins: int = BINS) -> Drift:
    from scipy.stats import ks_2samp, wasserstein_distance

    ref, _ = _finite(reference)
    win, dropped = _finite(window)
    if ref.size == 0 or win.size == 0:
        return Drift(0.0, 0.0, int(ref.size), int(win.size), dropped=dropped)
    inner = edges(ref, bins)
    scale = float(np.std(ref)) or 1.0
    test = ks_2samp(ref, win)
    return Drift(
        psi=psi_counts(counts(ref, inner), counts(win, inner)),
        distance=float(wasserstein_distance(ref, win)) / scale,
        n_reference=int(ref.size),
        n_window=int(win.size),
        bins=int(inner.size + 1),
        ks=float(test.statistic),
        p_value=float(test.pvalue),
        dropped=dropped,
    )


def categorical_drift(reference: Sequence[object], window: Sequence[object]) -> Drift:
    """PSI and total variation over the union of the categories seen (a new category drifts by its share)."""
    ref, win = Counter(reference), Counter(window)
    n_ref, n_win = sum(ref.values()), sum(win.values())
    if n_ref == 0 or n_win == 0:
        return Drift(0.0, 0.0, n_ref, n_win)
    keys = sorted(set(ref) | set(win), key=str)
    expected = np.array([ref[k] / n_ref for k in keys])
    actual = np.array([win[k] / n_win for k in keys])
    return Drift(
        psi=psi_counts(np.array([ref[k] for k in keys], float), np.array([win[k] for k in keys], float)),
        distance=float(0.5 * np.abs(expected - actual).sum()),
        n_reference=n_ref,
        n_window=n_win,
        bins=len(keys),
    )
