"""Validators of text uploads: log files (one message per line, read by ``logreader.LogReader``) and text
classification CSVs (``text,label``, UTF-8, Chinese included)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from catalog.errors import ValidationError, quote
from catalog.scenarios import Scenario
from catalog.validators import ValidatedUpload, register
from catalog.validators.csvread import iter_chunks, read_header, row_number
from catalog.validators.logreader import LogReader

MAX_REPLACED_FRACTION = 0.05  # more invalid UTF-8 than this and the file is not text at all
MAX_TEXT_CLASSES = 1000
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@register(Scenario.LOG_CLUSTERING)
def validate_log(path: Path, filename: str) -> ValidatedUpload:
    messages = blank = longest = 0
    sample: list[str] = []
    with path.open("rb") as fh:
        reader = LogReader(fh, filename=filename)
        # A batch of lines at a time (map and max run in C): a gigabyte of log is read in seconds.
        for batch in reader.batches():
            kept = sum(map(bool, map(str.strip, batch)))
            messages += kept
            blank += len(batch) - kept
            if kept:
                widest = max(batch, key=len)
                # The longest message: blank lines do not count (the widest line is blank only rarely).
                longest = max(
                    longest, len(widest) if widest.strip() else max(len(x) for x in batch if x.strip())
                )
            if len(sample) < 5:
                sample += [x[:300] for x in batch if x.strip()][: 5 - len(sample)]
    size = path.stat().st_size
    if reader.replaced > max(10, MAX_REPLACED_FRACTION * size):
        raise ValidationError(
            f"{filename}: not text: {reader.replaced} invalid UTF-8 sequence(s) in {size} bytes"
        )
    if messages == 0:
        raise ValidationError(f"{filename}: no messages: every line is blank")
    summary: dict[str, Any] = {
        "lines": messages,
        "blank_lines": blank,
        "longest_line": longest,
        "invalid_utf8_replaced": reader.replaced,
        "line_endings": reader.endings,
        "sample": sample,
    }
    return ValidatedUpload(content_type="text/plain; charset=utf-8", summary=summary)


@register(Scenario.TEXT_CLASSIFICATION)
def validate_text_csv(path: Path, filename: str) -> ValidatedUpload:
    columns = read_header(path, filename)
    missing = [c for c in ("text", "label") if c not in columns]
    if missing:
        raise ValidationError(
            f"{filename}: missing column(s) {quote(missing)} (columns: {quote(columns)}); "
            "expected a CSV with columns text,label"
        )
    labels: Counter[str] = Counter()
    rows = cjk_rows = longest = total_chars = 0
    for offset, chunk in iter_chunks(path, filename, columns):
        for column in ("text", "label"):
            empty = (chunk[column].str.strip() == "").to_numpy()
            if empty.any():
                i = int(np.flatnonzero(empty)[0])
                raise ValidationError(
                    f"{filename}: row {row_number(offset + i)}, column {quote(column)}: empty value"
                )
        lengths = chunk["text"].str.len()
        longest = max(longest, int(lengths.max()))
        total_chars += int(lengths.sum())
        cjk_rows += int(chunk["text"].str.contains(_CJK).sum())
        labels.update(chunk["label"].str.strip().tolist())
        rows += len(chunk)
        if len(labels) > MAX_TEXT_CLASSES:
            raise ValidationError(
                f"{filename}: column 'label' has more than {MAX_TEXT_CLASSES} distinct values "
                f"by row {row_number(rows - 1)}; is it the text column?"
            )
    if rows == 0:
        raise ValidationError(f"{filename}: the CSV has a header but no rows")
    summary = {
        "rows": rows,
        "columns": columns,
        "classes": sorted(labels),
        "labels": dict(labels.most_common()),
        "text_chars": {"mean": round(total_chars / rows, 1), "max": longest},
        "cjk_rows": cjk_rows,
    }
    return ValidatedUpload(content_type="text/csv", summary=summary)
