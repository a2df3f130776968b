"""Prediction logging: a sample of the requests ``/predict`` answered, with their answers, written to the object
store as Parquet batches, off the request path.

The platform turns it on by giving the server ``MLOPS_PREDICTION_LOG_URI`` (``s3://bucket/prefix``: the
serving's own partition root) and object-store credentials (``algorithms.base.storage``); the other settings
are ``LogSettings``. A batch is written when it holds ``batch_records`` records or its first record is
``batch_seconds`` old, to ``<prefix>/date=YYYY-MM-DD/hour=HH/<instance>-<seq>.parquet`` (UTC, by the batch's
first record), so a reader lists one hour of one serving by prefix.

The answer never waits for the log: ``submit`` samples (``rate``; at most ``per_minute`` records a minute) and
puts the record on a bounded queue without blocking; a full queue, or a batch the store refuses, drops records
and counts them (``mlops_prediction_log_records_total`` by outcome: written, sampled_out, capped, dropped,
failed). ``close`` (the server's clean stop) writes what is queued. A crash loses what is in memory: the batch
being assembled and the queue, which holds at most ``batch_records`` more.
"""

from __future__ import annotations

import io
import logging
import queue
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from algorithms.base.storage import parse_s3_uri

log = logging.getLogger("algorithms.serve")

REQUEST_ID_HEADER = b"x-request-id"
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
OUTCOMES = ("written", "sampled_out", "capped", "dropped", "failed")


class LogSettings(BaseSettings):
    """What the inference server reads to log its predictions (``MLOPS_PREDICTION_LOG_*``)."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_PREDICTION_LOG_", extra="ignore")

    uri: str | None = Field(
        None, description="s3://bucket/prefix the batches are written under; unset: logging is off"
    )
    rate: float = Field(1.0, ge=0.0, le=1.0, description="Share of answered requests logged (0–1)")
    per_minute: int = Field(
        6000, ge=1, le=1_000_000, description="At most this many records a minute; the rest count as capped"
    )
    batch_records: int = Field(1000, ge=1, le=100_000, description="A batch is written at this many records")
    batch_seconds: float = Field(
        10.0, gt=0, le=3600, description="… or when its first record is this old (a crash loses at most this)"
    )
    max_body_bytes: int = Field(
        65536,
        ge=0,
        le=16 * 1024 * 1024,
        description="Request and answer bodies are kept up to this size; a longer one is null, `truncated` true",
    )

    def enabled(self) -> bool:
        return bool(self.uri)


@dataclass(frozen=True, slots=True)
class Record:
    request_id: str
    at: float  # epoch seconds
    version: str
    status: int
    latency_ms: float
    request: bytes | bytearray
    response: bytes


def request_id(value: bytes | None) -> str:
    """The caller's ``x-request-id`` when it is a plain token of at most 128 characters, else a new one."""
    if value is not None and _REQUEST_ID.fullmatch(value):
        return value.decode()
    return uuid.uuid4().hex


def batch_key(prefix: str, instance: str, seq: int, first_at: float) -> str:
    """The object key of a batch: partitioned by the UTC date and hour of its first record."""
    when = datetime.fromtimestamp(first_at, UTC)
    return f"{prefix.rstrip('/')}/date={when:%Y-%m-%d}/hour={when:%H}/{instance}-{seq:06d}.parquet"


def to_parquet(records: Sequence[Record], max_body_bytes: int) -> bytes:
    """One batch as a Parquet file (zstd): request id, time (ms, UTC), model version, status, latency, and the
    request's and answer's JSON text (null past ``max_body_bytes``, with ``truncated``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def body(raw: bytes | bytearray) -> str | None:
        return bytes(raw).decode("utf-8", "replace") if len(raw) <= max_body_bytes else None

    requests = [body(r.request) for r in records]
    responses = [body(r.response) for r in records]
    table = pa.table(
        {
            "request_id": pa.array([r.request_id for r in records], pa.string()),
            "timestamp": pa.array([int(r.at * 1000) for r in records], pa.timestamp("ms", tz="UTC")),
            "model_version": pa.array([r.version for r in records], pa.string()),
            "status": pa.array([r.status for r in records], pa.int16()),
            "latency_ms": pa.array([r.latency_ms for r in records], pa.float32()),
            "request": pa.array(requests, pa.string()),
            "response": pa.array(responses, pa.string()),
            "truncated": pa.array(
                [q is None or a is None for q, a in zip(requests, responses, strict=True)], pa.bool_()
            ),
        }
    )
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    return out.getvalue()


Writer = Callable[[str, str, bytes], None]  # (bucket, key, data)


def s3_writer() -> Writer:
    """Writes with the container's object-store credentials (``algorithms.base.storage``)."""
    from algorithms.base.storage import s3_client_from_env

    client = s3_client_from_env()

    def write(bucket: str, key: str, data: bytes) -> None:
        client.put_object(
            bucket, key, io.BytesIO(data), len(data), content_type="application/vnd.apache.parquet"
        )

    return write


_STOP = object()


class PredictionLog:
    """The sampler, the queue and the writer thread of one server (``counted(outcome, n)`` feeds its metrics)."""

    def __init__(
        self,
        settings: LogSettings,
        *,
        instance: str,
        counted: Callable[[str, int], None],
        writer: Writer | None = None,
    ) -> None:
        assert settings.uri, "logging is off: no MLOPS_PREDICTION_LOG_URI"
        self.settings = settings
        self.bucket, self.prefix = parse_s3_uri(settings.uri.rstrip("/") + "/")
        self.instance = re.sub(r"[^A-Za-z0-9._-]", "_", instance)[:96]
        self.counted = counted
        self._writer = writer
        self.queue: queue.Queue[object] = queue.Queue(settings.batch_records)
        self._minute = (0, 0)  # (minute, records taken in it): read and written on the event loop only
        self._seq = 0
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def submit(self, record: Record) -> None:
        """Queue ``record`` if it is sampled and under the minute's cap; never blocks."""
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
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.counted("dropped", 1)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued and stop the thread (the server's clean stop)."""
        try:
            self.queue.put(_STOP, timeout=timeout)
        except queue.Full:
            log.warning("prediction log: the queue stayed full for %s s at stop", timeout)
            return
        self._thread.join(timeout)

    def _run(self) -> None:
        batch: list[Record] = []
        due = float("inf")
        while True:
            try:
                item = self.queue.get(timeout=max(0.0, due - time.monotonic()) if batch else None)
            except queue.Empty:
                item = None
            if isinstance(item, Record):
                if not batch:
                    due = time.monotonic() + self.settings.batch_seconds
                batch.append(item)
            stopping = item is _STOP
            if batch and (stopping or len(batch) >= self.settings.batch_records or time.monotonic() >= due):
                self._write(batch)
                batch = []
            if stopping:
                return

    def _write(self, batch: list[Record]) -> None:
        key = batch_key(self.prefix, self.instance, self._seq, batch[0].at)
        self._seq += 1
        try:
            if self._writer is None:
                self._writer = s3_writer()
            self._writer(self.bucket, key, to_parquet(batch, self.settings.max_body_bytes))
        except Exception as exc:  # noqa: BLE001 - the store being down costs the batch, never the server
            log.warning("prediction log: %d records not written to %s: %s", len(batch), key, str(exc)[:300])
            self.counted("failed", len(batch))
            return
        self.counted("written", len(batch))
