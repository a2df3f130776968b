"""Streaming CSV reading shared by the CSV validators: UTF-8 check, header, and chunks of rows.

Nothing here reads a whole file into memory: the UTF-8 check decodes 1 MiB at a time and rows come in
chunks, each with the offset of its first row so that errors can name the row. The header is capped at
``MLOPS_UPLOAD_MAX_COLUMNS`` columns, and its line at ``header_chars`` characters (so that an endless first
line is never parsed whole); its checks take time linear in its length (``benchmarks/csv_header.py``).
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import pandas as pd

from catalog.errors import ValidationError, quote
from infra.settings import get_settings

CHUNK_BYTES = 1 << 20
CHUNK_ROWS = 100_000
# Longest header line accepted: 256 characters per column the cap allows, and never less than 1 MiB (room
# for the error to count the columns of a header far over the cap).
HEADER_CHARS_PER_COLUMN = 256
HEADER_MIN_CHARS = 1 << 20


def header_chars(max_columns: int) -> int:
    return max(HEADER_MIN_CHARS, max_columns * HEADER_CHARS_PER_COLUMN)


def row_number(index: int) -> int:
    """Row as a user counts it in an editor: 1-based, the header being row 1."""
    return int(index) + 2


def check_utf8_text(path: Path, filename: str) -> None:
    """Refuse bytes that are not UTF-8 and NUL bytes (binary files), naming the line."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    line = 1
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            nul = chunk.find(b"\x00")
            if nul >= 0:
                at = line + chunk[:nul].count(b"\n")
                raise ValidationError(
                    f"{filename}: line {at}: binary content (NUL byte); expected UTF-8 text"
                )
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                at = line + chunk[: max(exc.start, 0)].count(b"\n")
                raise ValidationError(f"{filename}: line {at}: not UTF-8 text (invalid byte)") from None
            line += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise ValidationError(
                f"{filename}: line {line}: not UTF-8 text (truncated character at the end)"
            ) from None


def _bounded_lines(fh: TextIO, limit: int, filename: str) -> Iterator[str]:
    """Lines of ``fh``, refusing one longer than ``limit`` characters before it is read whole."""
    while line := fh.readline(limit + 1):
        if len(line) > limit:
            raise ValidationError(
                f"{filename}: the header line is longer than {limit} characters (the limit "
                "follows MLOPS_UPLOAD_MAX_COLUMNS)"
            )
        yield line


def check_header(header: list[str], filename: str, max_columns: int) -> list[str]:
    """Column names, checked in one pass each (linear in the header): at most ``max_columns``, every one
    named, none twice."""
    if len(header) > max_columns:
        raise ValidationError(
            f"{filename}: line 1: {len(header)} columns, more than the limit of {max_columns} "
            "(MLOPS_UPLOAD_MAX_COLUMNS)"
        )
    columns = [c.strip() for c in header]
    unnamed = next((i for i, c in enumerate(columns) if not c), None)
    if unnamed is not None:
        raise ValidationError(
            f"{filename}: line 1: column {unnamed + 1} has no name (header: {quote(columns)})"
        )
    seen: set[str] = set()
    dupes: dict[str, None] = {}  # insertion-ordered: in the order the repeats are met
    for column in columns:
        if column in seen:
            dupes[column] = None
        seen.add(column)
    if dupes:
        raise ValidationError(
            f"{filename}: line 1: duplicate column(s) {quote(list(dupes))} ({len(dupes)} duplicate names)"
        )
    return columns


def read_header(path: Path, filename: str, *, max_columns: int | None = None) -> list[str]:
    """Column names of the first line, checked: present, at most ``max_columns`` (default: the setting),
    named, unique."""
    limit = max_columns or get_settings().datasets.max_columns
    check_utf8_text(path, filename)
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(_bounded_lines(fh, header_chars(limit), filename))
        try:
            header = next((row for row in reader if any(cell.strip() for cell in row)), None)
        except csv.Error as exc:
            raise ValidationError(
                f"{filename}: line {reader.line_num}: not a valid CSV header ({exc})"
            ) from None
    if header is None:
        raise ValidationError(f"{filename}: the file is empty")
    return check_header(header, filename, limit)


def iter_chunks(path: Path, filename: str, columns: list[str]) -> Iterator[tuple[int, pd.DataFrame]]:
    """(offset of the first row, rows as text) for each chunk. A missing trailing field reads as '' (and is
    then refused by the column's parser); a row with too many fields is refused here."""
    offset = 0
    try:
        # dtype=str keeps the raw cell text so that errors can quote it; validators parse each column.
        reader = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
            encoding="utf-8-sig",
            header=0,
            names=columns,
            chunksize=CHUNK_ROWS,
        )
        for chunk in reader:
            yield offset, chunk
            offset += len(chunk)
    except pd.errors.ParserError as exc:
        raise ValidationError(f"{filename}: not a valid CSV ({exc})") from None
    except pd.errors.EmptyDataError:
        raise ValidationError(f"{filename}: the file is empty") from None
