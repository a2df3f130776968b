"""PELT on the Turing Change Point Dataset series, TCPDBench protocol, beside TCPDBench's published figures.

Protocol (../shared/data/README.md): each series z-scored; predicted locations kept in 1 <= loc < n-1; F1
with margin 5 (index 0 added to every annotator's set and to the prediction) and Cover (segmentation
covering averaged over annotators). A ruptures breakpoint b (first index of the new segment) is reported at
TCPDBench location b - 1: with that convention our default run reproduces TCPDBench's raw default-PELT
locations exactly (checked and printed per series).

Rows:
- default: the published default-PELT setting (R changepoint ``cpt.mean``, Normal mean cost = l2 on z-scored
  data, MBIC penalty, minseglen 1) run through ``algorithms.pelt`` (cost l2, penalty MBIC, min_size 1, jump 1).
- tuned: the platform's TPE tuning (``algorithms.base.tuning``) over the PELT preset's search space, per
  series, maximising F1 (and separately Cover) against that series' annotations — the same oracle protocol as
  TCPDBench's "oracle PELT" column (their grid search), so compare it with both default and oracle.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from algorithms.base.changepoints import covering, f_measure
from algorithms.base.tuning import Objective, tune
from algorithms.pelt import PeltAlgorithm, PeltPythonModel
from benchmarks.quality.common import REPO_ROOT, emit, mean, parse_args, table

DEFAULT = {
    "cost": "l2",
    "penalty": "MBIC",
    "min_size": 1,
    "jump": 1,
    "normalize": "zscore",
    "event_window": 0,
}
MARGIN = 5


def load(
    folder: Path,
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, list[int]]], dict[str, dict[str, str]]]:
    annotations = json.loads((folder / "annotations.json").read_text())
    with (folder / "reference_pelt_binseg_zero.csv").open() as fh:
        reference = {r["dataset"]: r for r in csv.DictReader(fh)}
    series: dict[str, np.ndarray] = {}
    for path in sorted((folder / "datasets").glob("*/*.json")):
        raw = json.loads(path.read_text())
        columns = [
            np.array([np.nan if v is None else v for v in s["raw"]], dtype=float) for s in raw["series"]
        ]
        series[raw["name"]] = np.column_stack(columns)
    return series, annotations, reference


def locations(X: np.ndarray, params: dict[str, Any]) -> list[int]:
    """TCPDBench locations of the change points found with ``params`` (z-scoring is the model's own)."""
    resolved = PeltAlgorithm().resolve_params(params)
    model = PeltPythonModel(["value"], resolved, np.zeros(X.shape[1]), np.ones(X.shape[1]))
    cps, _ = model.segment(X)
    n = len(X)
    return [c - 1 for c in cps if 1 <= c - 1 < n - 1]


def scores(X: np.ndarray, truth: dict[str, list[int]], params: dict[str, Any]) -> tuple[float, float]:
    locs = locations(X, params)
    return f_measure(truth, locs, margin=MARGIN)[0], covering(truth, locs, len(X))


def tuned(
    X: np.ndarray, truth: dict[str, list[int]], space: dict[str, Any], max_evals: int
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for metric, index in (("f1", 0), ("cover", 1)):
        result = tune(
            lambda p, i=index, m=metric: {m: scores(X, truth, DEFAULT | p)[i]},
            space,
            Objective(metric, "max"),
            max_evals=max_evals,
            patience=max_evals,
            seed=0,
        )
        out[metric] = -result.best_loss
        out[f"{metric}_params"] = result.best_params
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(
        __doc__.split("\n")[0], "tcpd", argv, max_evals=(int, 40, "tuning trials per series and metric")
    )
    series, annotations, reference = load(args.data)
    space = json.loads((REPO_ROOT / "catalog/presets/pelt.json").read_text())["search_space"]
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for name, X in series.items():
        if np.isnan(X).any():
            X = X[~np.isnan(X).any(axis=1)]  # TCPDBench drops missing observations the same way
        truth = annotations[name]
        ref = reference.get(name, {})
        f1, cover = scores(X, truth, DEFAULT)
        ours_raw = locations(X, DEFAULT)
        published_raw = [
            int(v) for v in ref.get("default_pelt_raw_cplocations(0-based, before cleaning)", "").split()
        ]
        best = tuned(X, truth, space, args.max_evals)
        rows.append(
            {
                "series": name,
                "n": len(X),
                "default_f1": f1,
                "published_default_f1": float(ref["default_pelt_f1"]) if ref else None,
                "tuned_f1": best["f1"],
                "published_oracle_f1": float(ref["oracle_pelt_f1"]) if ref else None,
                "default_cover": cover,
                "published_default_cover": float(ref["default_pelt_cover"]) if ref else None,
                "tuned_cover": best["cover"],
                "published_oracle_cover": float(ref["oracle_pelt_cover"]) if ref else None,
                "same_locations_as_published": ours_raw == [p for p in published_raw if 1 <= p < len(X) - 1],
                "tuned_f1_params": best["f1_params"],
            }
        )
    keys = [k for k in rows[0] if k not in ("series", "n", "same_locations_as_published", "tuned_f1_params")]
    summary_row = {"series": "MEAN", **{k: mean([r[k] for r in rows if r[k] is not None]) for k in keys}}
    columns = ["series", "n", *keys, "same_locations_as_published"]
    text = "\n".join(
        [
            "PELT on TCPD (F1 margin 5, Cover); published = TCPDBench (van den Burg & Williams 2020)",
            table([*rows, summary_row], columns),
            (
                f"tuned: TPE, {args.max_evals} trials per series and metric, oracle protocol (see docstring); "
                f"{time.perf_counter() - started:.1f} s"
            ),
        ]
    )
    emit(args, {"benchmark": "pelt_tcpd", "rows": rows, "mean": summary_row}, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
