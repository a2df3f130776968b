"""Streaming CSV reading shared by the CSV validators: UTF-8 check, header, and chunks of rows.

Nothing here reads a whole file into memory: the UTF-8 check decodes 1 MiB at a time and rows come in
chunks, each with the offset of its first row so that errors can name the row.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from catalog.errors import ValidationError

CHUNK_BYTES = 1 << 20
CHUNK_ROWS = 100_000


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
                raise ValidationError(f"{filename}: line {at}: binary content (NUL byte); expected UTF-8 text")
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                at = line + chunk[: max(exc.start, 0)].count(b"\n")
                raise ValidationError(f"{filename}: line {at}: not UTF-8 text (invalid byte)") from None
            line += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise ValidationError(f"{filename}: line {line}: not UTF-8 text (truncated character at the end)") from None


def read_header(path: Path, filename: str) -> list[str]:
    """Column names of the first line, checked: present, named, unique."""
    check_utf8_text(path, filename)
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = next((row for row in reader if any(cell.strip() for cell in row)), None)
        except csv.Error as exc:
            raise ValidationError(f"{filename}: line {reader.line_num}: not a valid CSV header ({exc})") from None
    if header is None:
        raise ValidationError(f"{filename}: the file is empty")
    columns = [c.strip() for c in header]
    unnamed = [i + 1 for i, c in enumerate(columns) if not c]
    if unnamed:
        raise ValidationError(f"{filename}: line 1: column {unnamed[0]} has no name (header: {columns})")
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise ValidationError(f"{filename}: line 1: duplicate column(s) {dupes}")
    return columns


def iter_chunks(path: Path, filename: str, columns: list[str]) -> Iterator[tuple[int, pd.DataFrame]]:
    """(offset of the first row, rows as text) for each chunk. A missing trailing field reads as '' (and is
    then refused by the column's parser); a row with too many fields is refused here."""
    offset = 0
    try:
        # dtype=str keeps the raw cell text so that errors can quote it; validators parse each column.
        reader = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8-sig",
                             header=0, names=columns, chunksize=CHUNK_ROWS)
        for chunk in reader:
            yield offset, chunk
            offset += len(chunk)
    except pd.errors.ParserError as exc:
        raise ValidationError(f"{filename}: not a valid CSV ({exc})") from None
    except pd.errors.EmptyDataError:
        raise ValidationError(f"{filename}: the file is empty") from None
