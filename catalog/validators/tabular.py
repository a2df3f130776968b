"""Validators of CSV uploads: anomaly detection series (timestamp, numeric values, optional 0/1 label)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from catalog.errors import ValidationError
from catalog.scenarios import Scenario
from catalog.validators import ValidatedUpload, register

TIMESTAMP = "timestamp"
LABEL = "label"


def read_csv(path: Path, filename: str) -> pd.DataFrame:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ValidationError(f"{filename}: not UTF-8 text (invalid byte at line {line})") from None
    if not text.strip():
        raise ValidationError(f"{filename}: the file is empty")
    try:
        # dtype=str keeps the raw cell text so that errors can quote it; every column is parsed below.
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, csv.Error) as exc:
        raise ValidationError(f"{filename}: not a valid CSV ({exc})") from None
    except pd.errors.EmptyDataError:
        raise ValidationError(f"{filename}: the file is empty") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise ValidationError(f"{filename}: the CSV has a header but no rows")
    dupes = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    if dupes:
        raise ValidationError(f"{filename}: duplicate column(s) {dupes}")
    return frame


def _row(index: int) -> int:
    return int(index) + 2  # 1-based, after the header line


def parse_timestamps(frame: pd.DataFrame, filename: str) -> pd.Series:
    if TIMESTAMP not in frame.columns:
        raise ValidationError(f"{filename}: missing column 'timestamp' (columns: {list(frame.columns)})")
    raw = frame[TIMESTAMP]
    parsed = pd.to_datetime(raw, errors="coerce", utc=True, format="mixed")
    bad = parsed.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValidationError(
            f"{filename}: row {_row(i)}, column 'timestamp': cannot parse {raw.iloc[i]!r} as a timestamp"
            f" ({int(bad.sum())} bad value(s) in all)"
        )
    dup = parsed.duplicated(keep="first")
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        first = int(np.flatnonzero((parsed == parsed.iloc[i]).to_numpy())[0])
        raise ValidationError(
            f"{filename}: row {_row(i)}, column 'timestamp': duplicate timestamp {raw.iloc[i]!r} "
            f"(first seen at row {_row(first)})"
        )
    return parsed


def parse_numeric(frame: pd.DataFrame, column: str, filename: str) -> pd.Series:
    raw = frame[column]
    values = pd.to_numeric(raw.str.strip(), errors="coerce")
    bad = values.isna() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValidationError(
            f"{filename}: row {_row(i)}, column {column!r}: {raw.iloc[i]!r} is not a finite number"
        )
    return values.astype(float)


def time_summary(ts: pd.Series) -> dict[str, Any]:
    ordered = ts.sort_values()
    freq = None
    if len(ordered) >= 3:
        try:
            freq = pd.infer_freq(pd.DatetimeIndex(ordered).tz_convert(None))
        except (TypeError, ValueError):
            freq = None
        if freq is None:
            step = ordered.diff().dropna().median()
            freq = f"~{pd.Timedelta(step).isoformat()}" if pd.notna(step) else None
    return {"start": ordered.iloc[0].isoformat(), "end": ordered.iloc[-1].isoformat(), "frequency": freq,
            "sorted": bool(ts.is_monotonic_increasing)}


@register(Scenario.ANOMALY_DETECTION)
def validate_anomaly_csv(path: Path, filename: str) -> ValidatedUpload:
    frame = read_csv(path, filename)
    ts = parse_timestamps(frame, filename)
    value_columns = [c for c in frame.columns if c not in (TIMESTAMP, LABEL)]
    if not value_columns:
        raise ValidationError(f"{filename}: needs at least one numeric value column besides timestamp and label")
    stats: dict[str, Any] = {}
    for column in value_columns:
        values = parse_numeric(frame, column, filename)
        stats[column] = {"min": float(values.min()), "max": float(values.max()), "mean": float(values.mean())}
    summary: dict[str, Any] = {"rows": len(frame), "columns": list(frame.columns), "value_columns": value_columns,
                               "time": time_summary(ts), "stats": stats}
    if LABEL in frame.columns:
        labels = frame[LABEL].str.strip()
        bad = ~labels.isin(["0", "1"])
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValidationError(
                f"{filename}: row {_row(i)}, column 'label': {frame[LABEL].iloc[i]!r} is not 0 or 1"
            )
        counts = labels.value_counts()
        summary["labels"] = {"0": int(counts.get("0", 0)), "1": int(counts.get("1", 0))}
    return ValidatedUpload(content_type="text/csv", summary=summary)
