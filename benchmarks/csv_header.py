"""CSV header checks against header width: ``catalog.validators.csvread.read_header`` (UTF-8 check, parsing,
column cap, unnamed and duplicate columns) on headers of 1,000, 10,000, 100,000 and 1,000,000 columns, with the
column cap raised for the run through its setting (``MLOPS_UPLOAD_MAX_COLUMNS``).

Baseline, measured in the same run on the same files: ``csv.reader`` parsing the header line alone. The
table prints both (best of several runs), the check's time per column and its ratio to the 1,000-column
time per column (about 1 when the check is linear), and the check over the baseline. For comparison, the
duplicate search the validator used before (``list.count`` per column, quadratic) is timed up to 10,000
columns. Run: ``python -m benchmarks.csv_header``.
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

WIDTHS = (1_000, 10_000, 100_000, 1_000_000)
QUADRATIC_UP_TO = 10_000


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Best of ``repeats`` runs, the collector off while timing (as ``timeit`` does)."""
    best = float("inf")
    gc.disable()
    try:
        for _ in range(repeats):
            started = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - started)
    finally:
        gc.enable()
    return best


def write_header(directory: Path, width: int) -> Path:
    path = directory / f"h{width}.csv"
    names = ["timestamp", *(f"sensor_{i:06d}" for i in range(width - 1))]
    path.write_text(",".join(names) + "\n" + ",".join("1" for _ in names) + "\n", encoding="utf-8")
    return path


def parse_only(path: Path) -> list[str]:
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        return next(csv.reader(fh))


def quadratic_duplicates(columns: list[str]) -> list[str]:
    """The duplicate search as it was: ``list.count`` for every column."""
    return sorted({c for c in columns if columns.count(c) > 1})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ["MLOPS_UPLOAD_MAX_COLUMNS"] = str(max(WIDTHS) * 2)
    os.environ.setdefault("MLOPS_ENV_FILE", "/nonexistent")
    from catalog.validators.csvread import read_header
    from infra.settings import get_settings, reset_settings

    reset_settings()
    assert get_settings().datasets.max_columns >= max(WIDTHS)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-csv-header-") as tmp:
        for width in WIDTHS:
            path = write_header(Path(tmp), width)
            assert len(read_header(path, path.name)) == width
            baseline = best_seconds(lambda p=path: parse_only(p), args.repeats)
            check = best_seconds(lambda p=path: read_header(p, p.name), args.repeats)
            quadratic = None
            if width <= QUADRATIC_UP_TO:
                columns = parse_only(path)
                quadratic = best_seconds(lambda c=columns: quadratic_duplicates(c), 1 if width > 1000 else 3)
            rows.append((width, baseline, check, quadratic))
    first_check, first_base = rows[0][2] / rows[0][0], rows[0][1] / rows[0][0]
    print(
        f"{'columns':>8} {'baseline ms':>12} {'check ms':>9} {'check/base':>10} {'us/column':>9} "
        f"{'per-col ratio':>13} {'base per-col':>12} {'old dupes ms':>12}"
    )
    for width, baseline, check, quadratic in rows:
        per_column = check / width
        old = f"{quadratic * 1000:12.1f}" if quadratic is not None else f"{'-':>12}"
        print(
            f"{width:>8} {baseline * 1000:12.2f} {check * 1000:9.2f} {check / baseline:10.2f} "
            f"{per_column * 1e6:9.3f} {per_column / first_check:13.2f} {baseline / width / first_base:12.2f} {old}"
        )
    print(
        "per-col ratio: the check's time per column over its time per column at 1,000 columns (~1 at every "
        "width = linear); base per-col: the same for the baseline; old dupes: the former list.count search "
        "alone (quadratic)."
    )


if __name__ == "__main__":
    main()
