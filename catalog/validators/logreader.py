"""Lenient, streaming reading of log text, shared by the log validator and release building (which uses it
to normalise a log entry to UTF-8 with ``\\n`` line ends).

Invalid UTF-8 is replaced (and counted), CRLF and lone CR end lines like LF, and a file is read 1 MiB at a
time whatever its line lengths (a line longer than the configured limit is refused). No pandas here: release
building imports this module and must stay light.
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Iterator
from typing import BinaryIO

from catalog.errors import ValidationError
from infra.settings import get_settings

CHUNK_BYTES = 1 << 20

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
        if "\r" not in body:  # the common case, without the scans and copies CR handling costs
            self.endings["lf"] += body.count("\n")
            return body.split("\n")
        crlf = body.count("\r\n")
        self.endings["crlf"] += crlf
        self.endings["cr"] += body.count("\r") - crlf
        self.endings["lf"] += body.count("\n") - crlf
        return body.replace("\r\n", "\n").replace("\r", "\n").split("\n")

    def _check(self, line: str) -> None:
        if len(line) > self.max_line_chars:
            raise ValidationError(
                f"{self.filename}: line {self.line_no}: longer than {self.max_line_chars} "
                "characters (is this really a log file with one message per line?)"
            )
        if "\x00" in line:
            raise ValidationError(
                f"{self.filename}: line {self.line_no}: binary content (NUL byte); expected text"
            )

    def lines(self) -> Iterator[str]:
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list[str]]:
        """The lines, a read's worth at a time (one list per ``CHUNK_BYTES`` read), each checked; ``line_no``
        is the number of the last line handed out. Callers that only count or measure take a batch at once,
        which costs far less than a line at a time (``validate_log``; ``benchmarks/api.py``)."""
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
                self._check_batch(body, parts)
                self.line_no += len(parts)
                yield parts
            pending = rest + hold
            if len(pending) > self.max_line_chars:
                self.line_no += 1
                self._check(pending)
            if final:
                return

    def _check_batch(self, body: str, parts: list[str]) -> None:
        """``_check`` of every line, at C speed when all pass; else line by line, for the first failure's
        number."""
        if "\x00" not in body and max(map(len, parts), default=0) <= self.max_line_chars:
            return
        first = self.line_no
        for offset, line in enumerate(parts, start=1):
            self.line_no = first + offset
            self._check(line)
        self.line_no = first
