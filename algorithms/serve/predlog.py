"""Prediction logging, the inference server's side: a sample of the requests ``/predict`` answered, with their
answers, kept in a bounded buffer that the platform pulls as Parquet batches.

The platform collects (``tasks.prediction_logs``): it pulls ``GET /admin/predictions?after=SEQ&limit=N`` with
its control token, writes the batch to the object store, and acknowledges it by asking for the next one
(``after`` = the last sequence number it wrote): only then are those records let go. So the server needs no
credentials for the store and no route to the platform, a store or platform that is down costs records (the
buffer fills, and what does not fit is dropped and counted) but never an answer, and a server that crashes loses
what arrived since the last pull. Delivery is at least once: a collector that restarts may write records again;
the server instance and ``seq`` tell them apart (a ``request_id`` is the caller's to choose, so it may repeat).

Settings (``LogSettings``, ``MLOPS_PREDICTION_LOG_*``): on or off, the share of requests logged, a cap per
minute, the buffer's size in records and in bytes (its memory), the largest body kept (a longer one is not kept
at all: null in the batch, ``truncated``). ``submit`` never blocks and takes no lock the pull holds for
long; Parquet is built off the event loop. Counts by outcome: ``mlops_prediction_log_records_total`` (logged,
sampled_out, capped, dropped).
"""

from __future__ import annotations

import io
import itertools
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.concurrency import run_in_threadpool

from algorithms.serve.asgi import error_response

REQUEST_ID_HEADER = b"x-request-id"
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
PARQUET_TYPE = "application/vnd.apache.parquet"
MAX_PULL = 50_000


class LogSettings(BaseSettings):
    """What the inference server reads to log its predictions (``MLOPS_PREDICTION_LOG_*``)."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_PREDICTION_LOG_", extra="ignore")

    enabled: bool = Field(False, description="Keep answered requests for the platform to collect")
    rate: float = Field(1.0, ge=0.0, le=1.0, description="Share of answered requests logged (0–1)")
    per_minute: int = Field(
        6000, ge=1, le=1_000_000, description="At most this many records a minute; the rest count as capped"
    )
    buffer_records: int = Field(
        20_000, ge=10, le=1_000_000, description="Records kept until collected; the rest count as dropped"
    )
    buffer_bytes: int = Field(
        32 * 1024 * 1024,
        ge=1024,
        le=4 * 1024 * 1024 * 1024,
        description="Bytes of bodies kept until collected (memory); the rest count as dropped",
    )
    max_body_bytes: int = Field(
        65536,
        ge=0,
        le=16 * 1024 * 1024,
        description="Request and answer bodies are kept up to this size; a longer one is null, `truncated` true",
    )


@dataclass(frozen=True, slots=True)
class Record:
    request_id: str
    at: float  # epoch seconds
    version: str
    status: int
    latency_ms: float
    request: bytes | bytearray | None  # None: over ``max_body_bytes``, not kept
    response: bytes | None

    @property
    def size(self) -> int:
        return len(self.request or b"") + len(self.response or b"")


def record(
    settings: LogSettings,
    rid: str,
    version: str,
    status: int,
    latency_ms: float,
    request: bytes | bytearray,
    response: bytes,
) -> Record:
    """A record of one answer, its bodies kept only up to ``max_body_bytes`` (the buffer holds what is kept)."""
    limit = settings.max_body_bytes
    return Record(
        rid,
        time.time(),
        version,
        status,
        latency_ms,
        request if len(request) <= limit else None,
        response if len(response) <= limit else None,
    )


def request_id(value: bytes | None) -> str:
    """The caller's ``x-request-id`` when it is a plain token of at most 128 characters, else a new one."""
    if value is not None and _REQUEST_ID.fullmatch(value):
        return value.decode()
    return uuid.uuid4().hex


def batch_key(prefix: str, instance: str, first: int, last: int, first_at: float) -> str:
    """The object key of a batch: partitioned by the UTC date and hour of its first record, named by the server
    instance and the sequence numbers it holds."""
    when = datetime.fromtimestamp(first_at, UTC)
    return (
        f"{prefix.rstrip('/')}/date={when:%Y-%m-%d}/hour={when:%H}/"
        f"{re.sub(r'[^A-Za-z0-9._-]', '_', instance)[:96]}-{first:012d}-{last:012d}.parquet"
    )


def schema() -> Any:
    """The Arrow schema of a batch (the collector refuses anything else)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("seq", pa.int64()),
            ("request_id", pa.string()),
            ("timestamp", pa.timestamp("ms", tz="UTC")),
            ("model_version", pa.string()),
            ("status", pa.int16()),
            ("latency_ms", pa.float32()),
            ("request", pa.string()),
            ("response", pa.string()),
            ("truncated", pa.bool_()),
        ]
    )


def to_parquet(batch: Sequence[tuple[int, Record]], max_body_bytes: int) -> bytes:
    """Records with their sequence numbers as a Parquet file (zstd); a body over ``max_body_bytes`` is null."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def body(raw: bytes | bytearray | None) -> str | None:
        return (
            bytes(raw).decode("utf-8", "replace") if raw is not None and len(raw) <= max_body_bytes else None
        )

    requests = [body(r.request) for _, r in batch]
    responses = [body(r.response) for _, r in batch]
    columns = [
        [seq for seq, _ in batch],
        [r.request_id for _, r in batch],
        [int(r.at * 1000) for _, r in batch],
        [r.version for _, r in batch],
        [r.status for _, r in batch],
        [r.latency_ms for _, r in batch],
        requests,
        responses,
        [q is None or a is None for q, a in zip(requests, responses, strict=True)],
    ]
    out = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(columns, schema=schema()), out, compression="zstd")
    return out.getvalue()


class PredictionLog:
    """The sampler and the buffer of one server; ``counted(outcome, n)`` feeds its metrics."""

    def __init__(self, settings: LogSettings, counted: Callable[[str, int], None]) -> None:
        self.settings = settings
        self.counted = counted
        self._buffer: deque[tuple[int, Record]] = deque()
        self._bytes = 0
        self._seq = 0
        # Both run on the event loop today; the lock keeps them safe should either move to a thread.
        self._lock = threading.Lock()
        self._minute = (0, 0)  # (minute, records taken in it): read and written on the event loop only

    def submit(self, record: Record) -> None:
        """Keep ``record`` if it is sampled, under the minute's cap and the buffer has room; never blocks."""
        s = self.settings
        if s.rate < 1.0 and random.random() >= s.rate:
            self.counted("sampled_out", 1)
            return
        minute = int(time.time() // 60)
        counted, taken = self._minute
        if counted != minute:
            taken = 0
        if taken >= s.per_minute:
            self.counted("capped", 1)
            return
        self._minute = (minute, taken + 1)
        size = record.size
        with self._lock:
            if len(self._buffer) >= s.buffer_records or self._bytes + size > s.buffer_bytes:
                full = True
            else:
                full = False
                self._seq += 1
                self._bytes += size
                self._buffer.append((self._seq, record))
        self.counted("dropped" if full else "logged", 1)

    def take(self, after: int, limit: int) -> tuple[list[tuple[int, Record]], int]:
        """Let go of the records up to ``after`` (collected), and return the next ``limit`` with the number
        still kept after them."""
        with self._lock:
            while self._buffer and self._buffer[0][0] <= after:
                self._bytes -= self._buffer.popleft()[1].size
            batch = list(itertools.islice(self._buffer, limit))
            return batch, len(self._buffer) - len(batch)


def add_log_route(app: FastAPI, log: PredictionLog | None, instance: str) -> None:
    """``GET /admin/predictions?after=SEQ&limit=N&instance=ID``: the next batch as Parquet (204 when there is
    none), with ``x-instance``, ``x-first-seq``, ``x-last-seq`` and ``x-remaining``. ``after`` counts only when
    ``instance`` is this server's: a collector's cursor for a server that has since restarted (its numbers start
    again at 1) must not let go of records it never collected. Authorized by ``InferenceApp`` (the control
    token)."""

    @app.get("/admin/predictions", include_in_schema=False)
    async def predictions(request: Request) -> Response:
        if log is None:
            return error_response(404, "logging_off", "this server keeps no prediction log")
        try:
            after = int(request.query_params.get("after", "0"))
            limit = int(request.query_params.get("limit", "10000"))
        except ValueError:
            return error_response(422, "invalid_request", "after and limit are integers")
        if after < 0 or not 1 <= limit <= MAX_PULL:
            return error_response(422, "invalid_request", f"after >= 0 and 1 <= limit <= {MAX_PULL}")
        if request.query_params.get("instance", instance) != instance:
            after = 0
        batch, remaining = log.take(after, limit)
        headers = {"x-instance": instance, "x-remaining": str(remaining)}
        if not batch:
            return Response(status_code=204, headers={**headers, "x-last-seq": str(after)})
        data = await run_in_threadpool(to_parquet, batch, log.settings.max_body_bytes)
        headers |= {"x-first-seq": str(batch[0][0]), "x-last-seq": str(batch[-1][0])}
        return Response(data, media_type=PARQUET_TYPE, headers=headers)
