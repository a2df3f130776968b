"""ECOD ROC-AUC on the ODDS outlier sets by pyod's benchmark protocol, beside pyod's published figures.

Protocol (pyod's ``benchmark.py``): for 10 runs ``i``, ``train_test_split(X, y, test_size=0.4,
random_state=i)``, z-scored with the training mean and standard deviation, fit on train, ROC-AUC of the
test decision scores; averaged over the runs. Ours fits through ``algorithms.ecod`` and scores the test
set with the served scorer (each row against the training ECDFs); pyod's own ``decision_function`` on the
same fit is shown beside it (it also ranks the test rows among themselves). Target: within 0.02 of the
published ECOD figure on every set.
"""

from __future__ import annotations

import csv
import time
from typing import Any

import numpy as np
import pandas as pd
from scipy.io import loadmat
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from algorithms.ecod import EcodAlgorithm
from benchmarks.quality.common import emit, mean, parse_args, table

RUNS = 10
TOLERANCE = 0.02


def standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = train.mean(axis=0), train.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return (train - mu) / sd, (test - mu) / sd


def evaluate(X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    ours, pyod = [], []
    algorithm = EcodAlgorithm()
    columns = [f"x{j}" for j in range(X.shape[1])]
    for run in range(RUNS):
        X_train, X_test, _, y_test = train_test_split(X, y, test_size=0.4, random_state=run)
        X_train, X_test = standardize(X_train, X_test)
        fitted = algorithm.fit(pd.DataFrame(X_train, columns=columns), {"contamination": 0.1})
        ours.append(roc_auc_score(y_test, fitted.model.score(X_test)))
        pyod.append(roc_auc_score(y_test, fitted.detector.decision_function(X_test)))
    return float(np.mean(ours)), float(np.mean(pyod))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.split("\n")[0], "odds", argv)
    with (args.data / "reference_roc_auc.csv").open() as fh:
        reference = {r["dataset"]: r for r in csv.DictReader(fh)}
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for path in sorted(args.data.glob("*.mat")):
        mat = loadmat(path)
        X, y = np.asarray(mat["X"], dtype=np.float64), np.asarray(mat["y"]).ravel().astype(int)
        ours, pyod = evaluate(X, y)
        published = float(reference[path.stem]["ECOD"]) if path.stem in reference else None
        rows.append(
            {
                "set": path.stem,
                "n": len(X),
                "d": X.shape[1],
                "ours_roc_auc": ours,
                "pyod_decision_function": pyod,
                "published_ecod": published,
                "diff": None if published is None else ours - published,
                "within_0.02": None if published is None else abs(ours - published) <= TOLERANCE,
            }
        )
    mean_row = {
        "set": "MEAN",
        **{k: mean([r[k] for r in rows]) for k in ("ours_roc_auc", "pyod_decision_function")},
    }
    mean_row["published_ecod"] = mean([r["published_ecod"] for r in rows if r["published_ecod"] is not None])
    columns = [
        "set",
        "n",
        "d",
        "ours_roc_auc",
        "pyod_decision_function",
        "published_ecod",
        "diff",
        "within_0.02",
    ]
    text = "\n".join(
        [
            f"ECOD ROC-AUC on ODDS (pyod protocol, {RUNS} runs of a 60/40 split); published = pyod benchmark",
            table([*rows, mean_row], columns, digits=4),
            f"{time.perf_counter() - started:.1f} s",
        ]
    )
    emit(
        args,
        {"benchmark": "ecod_odds", "rows": rows, "all_within": all(r["within_0.02"] for r in rows)},
        text,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
