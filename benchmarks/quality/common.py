"""Shared parts of the quality benchmarks: the ``--data``/``--json`` command line and table printing."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def parse_args(
    description: str, folder: str, argv: Sequence[str] | None = None, **extra: Any
) -> argparse.Namespace:
    """``--data`` (default ``../shared/data/<folder>``) and ``--json``; ``extra``: name → (type, default, help)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--data", type=Path, default=SHARED_DATA / folder, help=f"folder laid out like {folder}/"
    )
    parser.add_argument("--json", action="store_true", help="print one machine-readable JSON summary")
    for name, (kind, default, text) in extra.items():
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, default=default, help=text)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"--data {args.data} is not a folder")
    return args


def fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(rows: list[dict[str, Any]], columns: list[str], digits: int = 3) -> str:
    cells = [[fmt(r.get(c), digits) for c in columns] for r in rows]
    widths = [
        max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)
    ]
    lines = [" | ".join(c.ljust(w) for c, w in zip(columns, widths)), "-|-".join("-" * w for w in widths)]
    lines += [" | ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def emit(args: argparse.Namespace, summary: dict[str, Any], text: str) -> None:
    if args.json:
        json.dump(summary, sys.stdout, indent=1, default=str)
        print()
    else:
        print(text)


def mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else float("nan")
