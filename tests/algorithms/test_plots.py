"""Training plots: bounded figures whatever the data size, extremes kept by downsampling, folded bars and
classes, every algorithm's figures on its evaluation split, and a failing plot that does not fail training."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from algorithms.base.logs import LogSplit
from algorithms.base.plots import (
    MAX_BARS,
    MAX_CLASSES,
    MAX_POINTS,
    anomaly_figure,
    axis_values,
    confusion_figure,
    counts_figure,
    downsample,
    render,
    trials_figure,
)
from algorithms.registry import get_algorithm
from algorithms.train import TAG_PLOTS_ERROR, plot_safely
from tests.algorithms.conftest import make_series
from tests.algorithms.test_pelt import shifted_series
from tests.algorithms.test_prophet import weekly_series
from tests.algorithms.test_spell import FORMAT, make_logs
from tests.algorithms.test_text import SMALL, make_texts


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_downsample_is_bounded_and_keeps_every_extreme() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=1_000_003)
    spikes = [17, 500_000, 999_990]
    y[spikes] = [40.0, -55.0, 33.0]
    keep = downsample(y)
    assert len(keep) <= MAX_POINTS + 2 and np.all(np.diff(keep) > 0)
    assert set(spikes) <= set(keep.tolist()) and keep[0] == 0 and keep[-1] == len(y) - 1
    assert downsample(np.arange(10.0)).tolist() == list(range(10))


def test_axis_values_use_timestamps_when_they_parse() -> None:
    assert axis_values(None, 3).tolist() == [0, 1, 2]
    assert axis_values(pd.Series([5, 6, 7]), 3).tolist() == [5, 6, 7]
    dates = axis_values(pd.Series(["2024-01-01 00:00", "2024-01-01 00:01"]), 2)
    assert np.issubdtype(dates.dtype, np.datetime64)
    assert axis_values(pd.Series(["a", "b"]), 2).tolist() == [0, 1]
    assert axis_values(pd.Series(["2024-01-01"]), 2).tolist() == [0, 1]  # length mismatch: positions


def test_figures_have_a_fixed_size_whatever_the_series_length(tmp_path: Path) -> None:
    sizes = {}
    for n in (50, 300_000):
        x = np.arange(n)
        values = np.sin(x / 50.0)[:, None]
        predicted = np.zeros(n, dtype=int)
        predicted[::7] = 1  # far more flagged points than markers drawn
        fig = anomaly_figure(
            x, values, ["value"], predicted=predicted, truth=predicted, change_points=[n // 2]
        )
        (path,) = render({f"series{n}": fig}, tmp_path)
        sizes[n] = png_size(path)
        assert path.stat().st_size < 2_000_000
    assert sizes[50] == sizes[300_000]


def test_counts_and_confusion_fold_what_does_not_fit(tmp_path: Path) -> None:
    labels = [f"template {i} " + "x" * 200 for i in range(60)]
    fig = counts_figure(labels, list(range(60, 0, -1)), title="t")
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(ticks) == MAX_BARS + 1 and ticks[-1] == f"({60 - MAX_BARS} others)"
    assert ticks[0].startswith("template 0 ") and len(ticks[0]) <= 70

    classes = [f"c{i}" for i in range(45)]
    rng = np.random.default_rng(1)
    truth = rng.choice(classes, 2000).tolist()
    fig = confusion_figure(truth, truth, classes)
    names = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert len(names) == MAX_CLASSES and names[-1] == "(other)"
    render({"counts": counts_figure(labels, [1] * 60), "confusion": fig}, tmp_path)


def test_trials_figure_marks_failed_trials(tmp_path: Path) -> None:
    fig = trials_figure([-0.5, None, -0.7, float("nan")], loss_label="loss = −f1")
    _, names = fig.axes[0].get_legend_handles_labels()
    assert names == ["trial", "best so far", "failed"]
    (path,) = render({"trials": fig}, tmp_path)
    assert png_size(path)[0] == 900


def _logs(n: int, seed: int) -> LogSplit:
    lines, events = make_logs(n, seed)
    return LogSplit(lines, events)


CASES: list[tuple[str, Any, Any, dict[str, Any], set[str]]] = [
    ("ECOD", make_series(800, 1), make_series(300, 2), {}, {"anomalies"}),
    ("EWMA", make_series(800, 1), make_series(300, 2), {}, {"anomalies"}),
    ("PELT", shifted_series(1), shifted_series(2), {"jump": 1}, {"anomalies"}),
    ("Prophet", weekly_series(200).iloc[:150], weekly_series(200).iloc[150:], {}, {"forecast"}),
    ("Spell", _logs(300, 1), _logs(100, 2), {"log_format": FORMAT}, {"template_counts"}),
    ("RandomForest", make_texts(300, 1), make_texts(100, 2), SMALL["RandomForest"], {"confusion_matrix"}),
]


@pytest.mark.parametrize(("name", "train", "test", "params", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_algorithm_plots_its_evaluation_split(
    name: str, train: Any, test: Any, params: dict[str, Any], expected: set[str], tmp_path: Path
) -> None:
    algorithm = get_algorithm(name)
    fitted = algorithm.fit(train, params)
    figures = algorithm.plots(fitted, test)
    assert set(figures) == expected
    assert all(p.stat().st_size > 5_000 for p in render(figures, tmp_path))


def test_pelt_plot_draws_the_change_points() -> None:
    algorithm = get_algorithm("PELT")
    fitted = algorithm.fit(shifted_series(3), {"jump": 1})
    (ax,) = algorithm.plots(fitted, shifted_series(4))["anomalies"].axes
    _, names = ax.get_legend_handles_labels()
    assert names == ["value", "labelled anomaly", "detected", "change point"]
    assert len([line for line in ax.get_lines() if line.get_linestyle() == "--"]) == 3


class RecordingClient:
    """Stands in for MlflowClient where only the calls made are of interest."""

    def __init__(self) -> None:
        self.tags: dict[str, str] = {}
        self.uploaded: list[str] = []

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self.tags[key] = value

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str) -> None:
        self.uploaded += [f"{artifact_path}/{p.name}" for p in sorted(Path(local_dir).iterdir())]


def test_a_failing_plot_is_reported_not_raised() -> None:
    client = RecordingClient()

    def broken() -> dict[str, Any]:
        raise RuntimeError("no canvas today")

    plot_safely(client, "run1", "the test split", broken)  # type: ignore[arg-type]
    assert client.tags[TAG_PLOTS_ERROR] == "the test split: RuntimeError: no canvas today"
    plot_safely(client, "run1", "tuning", lambda: {"tuning_trials": trials_figure([1.0, 0.5])})  # type: ignore[arg-type]
    assert client.uploaded == ["plots/tuning_trials.png"]
