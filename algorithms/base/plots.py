"""The training plots every algorithm logs to its MLflow run (``plots/*.png``), drawn in one place.

Figures: detected vs labelled anomalies on a series (with change points), a forecast against the actual values
with its interval band, counts per category (log templates), a confusion matrix, and the loss of each tuning
trial. Arrays in, ``matplotlib.figure.Figure`` out; ``render`` writes PNGs (``algorithms.base.tracking``
uploads them).

Drawn with matplotlib's object API on the Agg canvas: no pyplot global state, no display, no backend switch,
safe in threads, offline (the DejaVu fonts bundled with matplotlib; glyphs they lack, e.g. Chinese, are drawn
as boxes rather than fetched). Bounded whatever the data: every PNG has a fixed pixel size, series longer
than ``MAX_POINTS`` keep the min and max of each bucket (spikes stay visible), markers are thinned to
``MAX_MARKERS``, bar charts and confusion matrices show at most ``MAX_BARS`` / ``MAX_CLASSES`` entries (the
rest folded into one). matplotlib is imported inside the functions: code that imports an algorithm module to
serve a model never loads it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_POINTS = 4000  # plotted points per line (as min/max pairs of MAX_POINTS / 2 buckets)
MAX_MARKERS = 2000  # anomaly markers or change-point lines per panel
MAX_PANELS = 4  # value columns drawn (one panel each)
MAX_BARS = 25
MAX_CLASSES = 20
MAX_LABEL_CHARS = 70
ANNOTATE_CLASSES = 12  # counts written in the confusion matrix cells up to this many classes
DPI = 100
WIDTH = 11.0  # inches: 1100 px at DPI
PANEL_HEIGHT = 2.6


def figure(height: float, width: float = WIDTH) -> Figure:
    """A figure on the Agg canvas (no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def render(figures: dict[str, Figure], directory: Path) -> list[Path]:
    """Each figure as ``{name}.png`` in ``directory``; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures.items():
        path = directory / f"{name}.png"
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Gg]lyph.*missing.*")
            fig.savefig(path, dpi=DPI, format="png")
        paths.append(path)
    return paths


def downsample(y: np.ndarray, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices of ``y`` to plot: all of them when short, else the first, the last, and the argmin and argmax
    of each of ``max_points / 2`` equal buckets — the drawn envelope keeps every extreme of the series."""
    n = len(y)
    if n <= max_points:
        return np.arange(n)
    buckets = max(1, max_points // 2)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    values = np.nan_to_num(np.asarray(y, dtype=np.float64))
    keep = [0, n - 1]
    for lo, hi in pairwise(edges):
        if hi > lo:
            chunk = values[lo:hi]
            keep += [lo + int(np.argmin(chunk)), lo + int(np.argmax(chunk))]
    return np.unique(np.asarray(keep, dtype=np.int64))


def thin(indices: np.ndarray, limit: int = MAX_MARKERS) -> np.ndarray:
    """At most ``limit`` of ``indices``, evenly spread."""
    indices = np.asarray(indices)
    if len(indices) <= limit:
        return indices
    return indices[np.linspace(0, len(indices) - 1, limit).astype(np.int64)]


def axis_values(timestamps: pd.Series | Sequence[Any] | None, n: int) -> np.ndarray:
    """The x values of a series: its timestamps when they are numbers or all parse as dates, else 0..n-1."""
    if timestamps is None:
        return np.arange(n)
    series = pd.Series(list(timestamps) if not isinstance(timestamps, pd.Series) else timestamps)
    if len(series) != n:
        return np.arange(n)
    if pd.api.types.is_numeric_dtype(series) and series.notna().all():
        return series.to_numpy()
    if pd.api.types.is_datetime64_any_dtype(series):
        return series.to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(series, errors="coerce", format="mixed")
        except (TypeError, ValueError):
            return np.arange(n)
    if parsed.isna().any():
        return np.arange(n)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    return parsed.to_numpy()


def short(label: Any, limit: int = MAX_LABEL_CHARS) -> str:
    text = str(label).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def anomaly_figure(
    x: np.ndarray,
    values: np.ndarray,
    columns: Sequence[str],
    *,
    predicted: np.ndarray,
    truth: np.ndarray | None = None,
    change_points: Sequence[int] = (),
    title: str = "",
) -> Figure:
    """The series (one panel per value column, at most ``MAX_PANELS``) with the points the model flagged, the
    labelled anomalies when known, and change points as vertical lines."""
    values = np.asarray(values, dtype=np.float64).reshape(len(x), -1)
    shown = list(columns)[:MAX_PANELS]
    fig = figure(PANEL_HEIGHT * len(shown) + 0.6)
    axes = fig.subplots(len(shown), 1, sharex=True, squeeze=False)[:, 0]
    flagged = thin(np.flatnonzero(np.asarray(predicted) > 0))
    labelled = thin(np.flatnonzero(np.asarray(truth) > 0)) if truth is not None else np.array([], dtype=int)
    cps = thin(np.asarray([c for c in change_points if 0 <= c < len(x)], dtype=np.int64))
    for k, (ax, column) in enumerate(zip(axes, shown)):
        y = values[:, k]
        keep = downsample(y)
        ax.plot(x[keep], y[keep], color="#4c72b0", linewidth=0.8, label=column)
        if len(labelled):
            ax.scatter(
                x[labelled],
                y[labelled],
                s=42,
                facecolors="none",
                edgecolors="#dd8452",
                linewidths=1.2,
                label="labelled anomaly",
                zorder=3,
            )
        if len(flagged):
            ax.scatter(
                x[flagged],
                y[flagged],
                s=18,
                marker="x",
                color="#c44e52",
                linewidths=1.0,
                label="detected",
                zorder=4,
            )
        for j, c in enumerate(cps):
            ax.axvline(
                x[c], color="#55a868", linestyle="--", linewidth=0.9, label="change point" if j == 0 else None
            )
        ax.set_ylabel(short(column, 24))
        ax.grid(alpha=0.25)
        ax.legend(loc="upper right", fontsize=7, ncols=4)
    note = f" ({len(shown)} of {len(columns)} columns)" if len(columns) > len(shown) else ""
    fig.suptitle(
        f"{title}{note}: {int(np.sum(np.asarray(predicted) > 0))} detected"
        + (f", {int(np.sum(np.asarray(truth) > 0))} labelled" if truth is not None else "")
        + (f", {len(change_points)} change points" if len(change_points) else ""),
        fontsize=10,
    )
    return fig


def forecast_figure(
    ds: np.ndarray,
    actual: np.ndarray,
    predicted: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    title: str = "",
) -> Figure:
    """Actual values against the forecast and its interval band."""
    fig = figure(4.2)
    ax = fig.add_subplot()
    keep = downsample(np.asarray(actual, dtype=np.float64))
    # The band and the forecast are smooth: even thinning keeps their shape.
    smooth = thin(np.arange(len(ds)), MAX_POINTS)
    ax.fill_between(
        ds[smooth],
        np.asarray(lower)[smooth],
        np.asarray(upper)[smooth],
        color="#4c72b0",
        alpha=0.2,
        linewidth=0,
        label="interval",
    )
    ax.plot(ds[smooth], np.asarray(predicted)[smooth], color="#4c72b0", linewidth=1.2, label="forecast")
    ax.plot(
        ds[keep],
        np.asarray(actual)[keep],
        color="black",
        linewidth=0,
        marker=".",
        markersize=3,
        label="actual",
    )
    ax.grid(alpha=0.25)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title, fontsize=10)
    return fig


def counts_figure(
    labels: Sequence[Any], counts: Sequence[int], *, title: str = "", xlabel: str = "count"
) -> Figure:
    """Horizontal bars, largest first; beyond ``MAX_BARS`` the rest are summed into one bar."""
    order = np.argsort(-np.asarray(counts, dtype=np.int64), kind="stable")
    names = [short(labels[i]) for i in order[:MAX_BARS]]
    values = [int(counts[i]) for i in order[:MAX_BARS]]
    if len(order) > MAX_BARS:
        names.append(f"({len(order) - MAX_BARS} others)")
        values.append(int(sum(counts[i] for i in order[MAX_BARS:])))
    fig = figure(1.2 + 0.28 * max(len(names), 1))
    ax = fig.add_subplot()
    positions = np.arange(len(names))
    ax.barh(positions, values, color="#4c72b0")
    ax.set_yticks(positions, names, fontsize=7)
    ax.invert_yaxis()
    for p, v in zip(positions, values):
        ax.text(v, p, f" {v}", va="center", fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.25)
    return fig


def confusion_figure(
    y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str], *, title: str = ""
) -> Figure:
    """Counts of (true, predicted) classes, coloured by the share of each true class. Beyond ``MAX_CLASSES``
    the classes with the most true samples are kept and the others folded into ``(other)``."""
    truth = [str(t) for t in y_true]
    pred = [str(p) for p in y_pred]
    support = pd.Series(truth).value_counts()
    ordered = [str(c) for c in classes]
    if len(ordered) > MAX_CLASSES:
        top = set(sorted(ordered, key=lambda c: -int(support.get(c, 0)))[: MAX_CLASSES - 1])
        ordered = [c for c in ordered if c in top] + ["(other)"]
        truth = [t if t in top else "(other)" for t in truth]
        pred = [p if p in top else "(other)" for p in pred]
    index = {c: i for i, c in enumerate(ordered)}
    matrix = np.zeros((len(ordered), len(ordered)), dtype=np.int64)
    for t, p in zip(truth, pred):
        if t in index and p in index:
            matrix[index[t], index[p]] += 1
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape, dtype=np.float64), where=rows > 0)
    side = min(10.0, 2.5 + 0.45 * len(ordered))
    fig = figure(side, side + 1.2)
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true class")
    names = [short(c, 24) for c in ordered]
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(ordered) <= ANNOTATE_CLASSES:
        for i in range(len(ordered)):
            for j in range(len(ordered)):
                ax.text(
                    j,
                    i,
                    str(matrix[i, j]),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if share[i, j] > 0.5 else "black",
                )
    ax.set_title(title, fontsize=10)
    return fig


def trials_figure(losses: Sequence[float | None], *, loss_label: str = "loss", title: str = "") -> Figure:
    """Each tuning trial's loss (hyperopt minimises it), the best so far, and failed trials marked on the
    axis."""
    numbers = np.arange(len(losses))
    ok = np.array([v is not None and np.isfinite(v) for v in losses], dtype=bool)
    values = np.array([v if v is not None else np.nan for v in losses], dtype=np.float64)
    fig = figure(3.8, 9.0)
    ax: Axes = fig.add_subplot()
    if ok.any():
        ax.scatter(numbers[ok], values[ok], s=22, color="#4c72b0", label="trial", zorder=3)
        best = np.fmin.accumulate(np.where(ok, values, np.inf))
        ax.step(
            numbers,
            np.where(np.isfinite(best), best, np.nan),
            where="post",
            color="#55a868",
            linewidth=1.2,
            label="best so far",
        )
    if (~ok).any():
        ax.scatter(
            numbers[~ok],
            np.full(int((~ok).sum()), 0.0),
            marker="x",
            color="#c44e52",
            transform=ax.get_xaxis_transform(),
            clip_on=False,
            label="failed",
            zorder=4,
        )
    ax.set_xlabel("trial")
    ax.set_ylabel(loss_label)
    ax.grid(alpha=0.25)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title or f"{len(losses)} tuning trials", fontsize=10)
    return fig
