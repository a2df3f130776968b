"""ECOD and EWMA on NAB series with their labelled anomaly windows: window-level precision and recall.

NAB convention: the first 15% of each series is the probationary period — the detectors are fitted on it
and only detections after it count. An alarm is a run of consecutive points labelled anomalous; an alarm
overlapping a labelled window is a true alarm. Precision = true alarms / alarms; recall = windows hit by at
least one alarm / windows (windows inside the probationary period excluded). NAB publishes scores (its own
weighted profile), not window precision/recall, so there is no published figure to print beside these.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pandas as pd

from algorithms.base.algorithm import Algorithm
from algorithms.ecod import EcodAlgorithm
from algorithms.ewma import EwmaAlgorithm
from benchmarks.quality.common import emit, parse_args, table

PROBATION = 0.15
CONFIGS: list[tuple[str, Algorithm, dict[str, Any]]] = [
    ("ECOD raw value", EcodAlgorithm(), {"contamination": 0.01}),
    ("ECOD + rolling 12 (mean,std)", EcodAlgorithm(), {"contamination": 0.01, "rolling_windows": [12]}),
    ("EWMA span 20, z>3", EwmaAlgorithm(), {"span": 20, "threshold": 3.0}),
    ("EWMA span 20, z>5, 3 in a row", EwmaAlgorithm(), {"span": 20, "threshold": 5.0, "n_consecutive": 3}),
]


def alarms(labels: np.ndarray) -> list[tuple[int, int]]:
    padded = np.concatenate(([0], labels.astype(int), [0]))
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[0::2], edges[1::2]))


def window_scores(labels: np.ndarray, windows: list[tuple[int, int]], start: int) -> dict[str, float]:
    found = [(a, b) for a, b in alarms(labels) if a >= start]
    windows = [(a, b) for a, b in windows if b > start]
    true_alarms = sum(any(a < wb and wa < b for wa, wb in windows) for a, b in found)
    hit = sum(any(a < wb and wa < b for a, b in found) for wa, wb in windows)
    precision = true_alarms / len(found) if found else float("nan")
    recall = hit / len(windows) if windows else float("nan")
    return {"alarms": len(found), "windows": len(windows), "precision": precision, "recall": recall}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.split("\n")[0], "nab", argv)
    labelled = json.loads((args.data / "combined_windows.json").read_text())
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for path in sorted((args.data / "data").glob("*.csv")):
        key = next((k for k in labelled if k.endswith("/" + path.name)), None)
        if key is None:
            continue
        frame = pd.read_csv(path)
        ts = pd.to_datetime(frame["timestamp"])
        windows = []
        for a, b in labelled[key]:
            inside = np.flatnonzero((ts >= pd.Timestamp(a)) & (ts <= pd.Timestamp(b)))
            if len(inside):
                windows.append((int(inside[0]), int(inside[-1]) + 1))
        start = int(len(frame) * PROBATION)
        X = frame[["value"]].to_numpy(dtype=np.float64)
        for label, algorithm, params in CONFIGS:
            fitted = algorithm.fit(frame.iloc[:start], params)
            _, labels, _ = fitted.model.detect(X)
            rows.append({"series": path.stem, "detector": label} | window_scores(labels, windows, start))
    totals = []
    for label, _, _ in CONFIGS:
        mine = [r for r in rows if r["detector"] == label]
        alarms_total = sum(r["alarms"] for r in mine)
        true_total = sum(r["precision"] * r["alarms"] for r in mine if r["alarms"])
        totals.append(
            {
                "series": "ALL",
                "detector": label,
                "alarms": alarms_total,
                "windows": sum(r["windows"] for r in mine),
                "precision": true_total / alarms_total if alarms_total else float("nan"),
                "recall": sum(r["recall"] * r["windows"] for r in mine)
                / max(1, sum(r["windows"] for r in mine)),
                "published": None,
            }
        )
    columns = ["series", "detector", "alarms", "windows", "precision", "recall"]
    text = "\n".join(
        [
            "NAB window-level precision / recall (fit on the first 15%, count after it); no published P/R",
            table(rows + totals, columns),
            f"{time.perf_counter() - started:.1f} s",
        ]
    )
    emit(args, {"benchmark": "nab_windows", "rows": rows, "totals": totals}, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
