"""Validators of text uploads: log files (one message per line) and text classification CSVs (``text,label``).

``LogReader`` is also what release building uses to normalise a log entry to UTF-8 with ``\\n`` line ends:
invalid UTF-8 is replaced (and counted), CRLF and lone CR end lines like LF, and a file is read 1 MiB at a
time whatever its line lengths (a line longer than the configured limit is refused).
"""

from __future__ import annotations

import codecs
import re
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from catalog.errors import ValidationError
from catalog.scenarios import Scenario
from catalog.validators import ValidatedUpload, register
from catalog.validators.csvread import iter_chunks, read_header, row_number
from infra.settings import get_settings

CHUNK_BYTES = 1 << 20
MAX_REPLACED_FRACTION = 0.05  # more invalid UTF-8 than this and the file is not text at all
MAX_TEXT_CLASSES = 1000
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

_counter = threading.local()
_ERRORS = "mlops-count-replace"


def _count_replace(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    _counter.n = getattr(_counter, "n", 0) + 1
    return "\ufffd", exc.end


codecs.register_error(_ERRORS, _count_replace)


class LogReader:
    """Lines of a byte stream, decoded leniently; counters filled in as lines are read."""

    def __init__(self, raw: BinaryIO, *, filename: str, max_line_chars: int | None = None) -> None:
        self.raw = raw
        self.filename = filename
        self.max_line_chars = max_line_chars or get_settings().datasets.max_line_chars
        self.replaced = 0
        self.endings = {"lf": 0, "crlf": 0, "cr": 0}
        self.line_no = 0

    def _decode(self, decoder: codecs.IncrementalDecoder, chunk: bytes, final: bool) -> str:
        before = getattr(_counter, "n", 0)
        text = decoder.decode(chunk, final=final)
        self.replaced += getattr(_counter, "n", 0) - before
        return text

    def _split(self, body: str) -> list[str]:
        crlf = body.count("\r\n")
        self.endings["crlf"] += crlf
        self.endings["cr"] += body.count("\r") - crlf
        self.endings["lf"] += body.count("\n") - crlf
        return body.replace("\r\n", "\n").replace("\r", "\n").split("\n")

    def _check(self, line: str) -> None:
        if len(line) > self.max_line_chars:
            raise ValidationError(f"{self.filename}: line {self.line_no}: longer than {self.max_line_chars} "
                                  "characters (is this really a log file with one message per line?)")
        if "\x00" in line:
            raise ValidationError(f"{self.filename}: line {self.line_no}: binary content (NUL byte); "
                                  "expected text")

    def lines(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")(_ERRORS)
        pending = ""
        first = True
        while True:
            chunk = self.raw.read(CHUNK_BYTES)
            final = not chunk
            buffer = pending + self._decode(decoder, chunk, final)
            if first and buffer.startswith("\ufeff"):
                buffer = buffer[1:]
            first = False
            hold = ""
            if not final and buffer.endswith("\r"):
                # The "\n" of a CRLF may start the next chunk: decide on this CR with the next read.
                hold, buffer = "\r", buffer[:-1]
            cut = len(buffer) if final else max(buffer.rfind("\n"), buffer.rfind("\r")) + 1
            body, rest = buffer[:cut], buffer[cut:]
            if body:
                parts = self._split(body)
                if body[-1] in "\r\n":
                    parts.pop()  # the empty string after the last line end
                for line in parts:
                    self.line_no += 1
                    self._check(line)
                    yield line
            pending = rest + hold
            if len(pending) > self.max_line_chars:
                self.line_no += 1
                self._check(pending)
            if final:
                return


@register(Scenario.LOG_CLUSTERING)
def validate_log(path: Path, filename: str) -> ValidatedUpload:
    messages = blank = longest = 0
    sample: list[str] = []
    with path.open("rb") as fh:
        reader = LogReader(fh, filename=filename)
        for line in reader.lines():
            if not line.strip():
                blank += 1
                continue
            messages += 1
            longest = max(longest, len(line))
            if len(sample) < 5:
                sample.append(line[:300])
    size = path.stat().st_size
    if reader.replaced > max(10, MAX_REPLACED_FRACTION * size):
        raise ValidationError(f"{filename}: not text: {reader.replaced} invalid UTF-8 sequence(s) in {size} bytes")
    if messages == 0:
        raise ValidationError(f"{filename}: no messages: every line is blank")
    summary: dict[str, Any] = {"lines": messages, "blank_lines": blank, "longest_line": longest,
                               "invalid_utf8_replaced": reader.replaced, "line_endings": reader.endings,
                               "sample": sample}
    return ValidatedUpload(content_type="text/plain; charset=utf-8", summary=summary)


@register(Scenario.TEXT_CLASSIFICATION)
def validate_text_csv(path: Path, filename: str) -> ValidatedUpload:
    columns = read_header(path, filename)
    missing = [c for c in ("text", "label") if c not in columns]
    if missing:
        raise ValidationError(f"{filename}: missing column(s) {missing} (columns: {columns}); "
                              "expected a CSV with columns text,label")
    labels: Counter[str] = Counter()
    rows = cjk_rows = longest = total_chars = 0
    for offset, chunk in iter_chunks(path, filename, columns):
        for column in ("text", "label"):
            empty = (chunk[column].str.strip() == "").to_numpy()
            if empty.any():
                i = int(np.flatnonzero(empty)[0])
                raise ValidationError(f"{filename}: row {row_number(offset + i)}, column {column!r}: empty value")
        lengths = chunk["text"].str.len()
        longest = max(longest, int(lengths.max()))
        total_chars += int(lengths.sum())
        cjk_rows += int(chunk["text"].str.contains(_CJK).sum())
        labels.update(chunk["label"].str.strip().tolist())
        rows += len(chunk)
        if len(labels) > MAX_TEXT_CLASSES:
            raise ValidationError(f"{filename}: column 'label' has more than {MAX_TEXT_CLASSES} distinct values "
                                  f"by row {row_number(rows - 1)}; is it the text column?")
    if rows == 0:
        raise ValidationError(f"{filename}: the CSV has a header but no rows")
    summary = {"rows": rows, "columns": columns, "classes": sorted(labels), "labels": dict(labels.most_common()),
               "text_chars": {"mean": round(total_chars / rows, 1), "max": longest}, "cjk_rows": cjk_rows}
    return ValidatedUpload(content_type="text/csv", summary=summary)
