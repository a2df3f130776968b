"""Change-point evaluation: F1 with a margin and segmentation covering, as defined by TCPDBench
(van den Burg & Williams, 2020), for one or several annotators.

A change-point location is the index of the first point of a new segment. ``f_measure``: predictions are
matched one-to-one to annotated points within ``margin`` (nearest first); precision is computed against the
union of all annotators' points, recall is averaged over annotators; ``include_zero`` adds index 0 to every
set as TCPDBench does (so a series without changes, predicted without changes, scores 1).
``covering``: for each annotator, the length-weighted best Jaccard overlap of its segments with the
predicted segments, averaged over annotators.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np


def true_positives(truth: Iterable[int], predicted: Iterable[int], margin: int) -> set[int]:
    """Annotated points matched to a distinct prediction within ``margin`` (closest prediction first)."""
    remaining = set(predicted)
    matched: set[int] = set()
    for tau in sorted(set(truth)):
        close = sorted((abs(tau - x), x) for x in remaining if abs(tau - x) <= margin)
        if close:
            matched.add(tau)
            remaining.remove(close[0][1])
    return matched


def f_measure(
    annotations: Mapping[str, Sequence[int]] | Sequence[Sequence[int]],
    predictions: Iterable[int],
    *,
    margin: int = 5,
    include_zero: bool = True,
) -> tuple[float, float, float]:
    """(F1, precision, recall) of ``predictions`` against one or several annotators' change points."""
    sets = list(annotations.values()) if isinstance(annotations, Mapping) else list(annotations)
    if not sets:
        raise ValueError("at least one annotator's change points are needed")
    truths = [{int(t) for t in s} | ({0} if include_zero else set()) for s in sets]
    X = {int(x) for x in predictions} | ({0} if include_zero else set())
    union: set[int] = set().union(*truths)
    if not X:
        precision = 1.0 if not union else 0.0
    else:
        precision = len(true_positives(union, X, margin)) / len(X)
    recalls = [len(true_positives(T, X, margin)) / len(T) if T else 1.0 for T in truths]
    recall = float(np.mean(recalls))
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return f1, precision, recall


def segment_labels(locations: Iterable[int], n: int) -> np.ndarray:
    """Segment number of each of ``n`` points, a new segment starting at each location in (0, n)."""
    starts = sorted({int(c) for c in locations if 0 < int(c) < n})
    labels = np.zeros(n, dtype=np.int64)
    for c in starts:
        labels[c:] += 1
    return labels


def cover_single(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Covering of the truth segmentation by the predicted one (both as per-point segment labels)."""
    n = len(truth)
    total = 0.0
    pred_segments = [np.flatnonzero(predicted == s) for s in np.unique(predicted)]
    for s in np.unique(truth):
        R = np.flatnonzero(truth == s)
        lo, hi = R[0], R[-1] + 1  # segments are contiguous: overlaps from interval arithmetic
        best = 0.0
        for P in pred_segments:
            p_lo, p_hi = P[0], P[-1] + 1
            inter = max(0, min(hi, p_hi) - max(lo, p_lo))
            if inter:
                best = max(best, inter / (max(hi, p_hi) - min(lo, p_lo)))
        total += len(R) * best
    return total / n


def covering(
    annotations: Mapping[str, Sequence[int]] | Sequence[Sequence[int]], predictions: Iterable[int], n: int
) -> float:
    sets = list(annotations.values()) if isinstance(annotations, Mapping) else list(annotations)
    predicted = segment_labels(predictions, n)
    return float(np.mean([cover_single(predicted, segment_labels(s, n)) for s in sets]))


def change_points_from_labels(labels: np.ndarray) -> list[int]:
    """Ground-truth change points of a labelled split: the centre of each run of label 1 (a run marks the
    event window around a change, or a single changed point)."""
    mask = np.asarray(labels).astype(bool)
    padded = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [int((s + e - 1) // 2) for s, e in zip(edges[0::2], edges[1::2])]
