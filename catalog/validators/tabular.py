"""Validators of time-series CSV uploads: anomaly detection (timestamp, numeric values, optional 0/1 label)
and time-series forecasting (timestamp, value, extra numeric columns kept as regressors).

Files are read in chunks of rows (see ``catalog.validators.csvread``) so memory stays bounded by one chunk
plus one 8-byte timestamp per row (needed to find duplicates across chunks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from catalog.errors import ValidationError, quote
from catalog.scenarios import Scenario
from catalog.validators import ValidatedUpload, register
from catalog.validators.csvread import iter_chunks, read_header, row_number

TIMESTAMP = "timestamp"
LABEL = "label"
VALUE = "value"


def parse_timestamps(chunk: pd.DataFrame, offset: int, filename: str) -> np.ndarray:
    """The chunk's timestamps as UTC nanoseconds since the epoch."""
    raw = chunk[TIMESTAMP]
    parsed = pd.to_datetime(raw.str.strip(), errors="coerce", utc=True, format="mixed")
    bad = parsed.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValidationError(
            f"{filename}: row {row_number(offset + i)}, column 'timestamp': cannot parse {quote(raw.iloc[i])} as a "
            f"timestamp ({int(bad.sum())} bad value(s) in this block of rows)"
        )
    try:
        return parsed.dt.tz_convert(None).astype("datetime64[ns]").to_numpy().view("int64")
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime) as exc:
        raise ValidationError(f"{filename}: column 'timestamp' has a date out of range ({exc})") from None


def parse_numeric(chunk: pd.DataFrame, column: str, offset: int, filename: str) -> np.ndarray:
    raw = chunk[column]
    values = pd.to_numeric(raw.str.strip(), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"{filename}: row {row_number(offset + i)}, column {quote(column)}: {quote(raw.iloc[i])} is not a finite number"
        )
    return values


@dataclass
class _Stats:
    minimum: float = float("inf")
    maximum: float = float("-inf")
    total: float = 0.0
    count: int = 0

    def add(self, values: np.ndarray) -> None:
        if len(values):
            self.minimum = min(self.minimum, float(values.min()))
            self.maximum = max(self.maximum, float(values.max()))
            self.total += float(values.sum())
            self.count += len(values)

    def as_dict(self) -> dict[str, float]:
        return {"min": self.minimum, "max": self.maximum, "mean": self.total / max(self.count, 1)}


@dataclass
class _Series:
    """What a time-series validator accumulates over the chunks."""

    stamps: list[np.ndarray] = field(default_factory=list)
    stats: dict[str, _Stats] = field(default_factory=dict)
    rows: int = 0


def check_duplicates(stamps: np.ndarray, filename: str) -> None:
    dup = pd.Series(stamps).duplicated(keep="first").to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero(stamps == stamps[i])[0])
        when = pd.Timestamp(int(stamps[i]), tz="UTC").isoformat()
        raise ValidationError(
            f"{filename}: row {row_number(i)}, column 'timestamp': duplicate timestamp {when} "
            f"(first seen at row {row_number(first)})"
        )


def time_summary(stamps: np.ndarray) -> dict[str, Any]:
    ordered = np.sort(stamps)
    index = pd.DatetimeIndex(ordered.astype("datetime64[ns]"))
    freq = None
    if len(ordered) >= 3:
        try:
            freq = pd.infer_freq(index)
        except (TypeError, ValueError):
            freq = None
        if freq is None:
            step = int(np.median(np.diff(ordered)))
            freq = f"~{pd.Timedelta(step, unit='ns').isoformat()}"
    return {
        "start": index[0].tz_localize("UTC").isoformat(),
        "end": index[-1].tz_localize("UTC").isoformat(),
        "frequency": freq,
        "sorted": bool(np.all(np.diff(stamps) > 0)),
    }


def _read_series(
    path: Path,
    filename: str,
    *,
    required: tuple[str, ...],
    skip_numeric: tuple[str, ...],
    on_chunk: Any = None,
) -> tuple[list[str], _Series]:
    columns = read_header(path, filename)
    missing = [c for c in required if c not in columns]
    if missing:
        raise ValidationError(f"{filename}: missing column(s) {quote(missing)} (columns: {quote(columns)})")
    numeric = [c for c in columns if c != TIMESTAMP and c not in skip_numeric]
    acc = _Series(stats={c: _Stats() for c in numeric})
    for offset, chunk in iter_chunks(path, filename, columns):
        acc.stamps.append(parse_timestamps(chunk, offset, filename))
        for column in numeric:
            acc.stats[column].add(parse_numeric(chunk, column, offset, filename))
        if on_chunk is not None:
            on_chunk(offset, chunk)
        acc.rows += len(chunk)
    if acc.rows == 0:
        raise ValidationError(f"{filename}: the CSV has a header but no rows")
    return columns, acc


def _finish(columns: list[str], acc: _Series, filename: str) -> dict[str, Any]:
    stamps = np.concatenate(acc.stamps)
    check_duplicates(stamps, filename)
    return {
        "rows": acc.rows,
        "columns": columns,
        "time": time_summary(stamps),
        "stats": {c: s.as_dict() for c, s in acc.stats.items()},
    }


@register(Scenario.ANOMALY_DETECTION)
def validate_anomaly_csv(path: Path, filename: str) -> ValidatedUpload:
    labels = {"0": 0, "1": 0}

    def count_labels(offset: int, chunk: pd.DataFrame) -> None:
        values = chunk[LABEL].str.strip()
        bad = ~values.isin(["0", "1"])
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValidationError(
                f"{filename}: row {row_number(offset + i)}, column 'label': "
                f"{quote(chunk[LABEL].iloc[i])} is not 0 or 1"
            )
        counts = values.value_counts()
        for key in labels:
            labels[key] += int(counts.get(key, 0))

    header = read_header(path, filename)
    has_label = LABEL in header
    if not [c for c in header if c not in (TIMESTAMP, LABEL)]:
        raise ValidationError(
            f"{filename}: needs at least one numeric value column besides timestamp and label "
            f"(columns: {header})"
        )
    columns, acc = _read_series(
        path,
        filename,
        required=(TIMESTAMP,),
        skip_numeric=(LABEL,),
        on_chunk=count_labels if has_label else None,
    )
    summary = _finish(columns, acc, filename)
    summary["value_columns"] = [c for c in columns if c not in (TIMESTAMP, LABEL)]
    if has_label:
        summary["labels"] = labels
    return ValidatedUpload(content_type="text/csv", summary=summary)


@register(Scenario.TIMESERIES_PREDICT)
def validate_timeseries_csv(path: Path, filename: str) -> ValidatedUpload:
    columns, acc = _read_series(path, filename, required=(TIMESTAMP, VALUE), skip_numeric=())
    summary = _finish(columns, acc, filename)
    summary["target"] = VALUE
    summary["regressors"] = [c for c in columns if c not in (TIMESTAMP, VALUE)]
    return ValidatedUpload(content_type="text/csv", summary=summary)
