"""Copies of live requests answered by another version, off the request path, and their comparison.

Two kinds of copy: a *shadow* version answers a copy of every live request (its answer is never returned),
and while a canary takes a share of the traffic the *stable* version answers a copy of each request the
canary answered, so the roll-out can compare their outputs (``Target.compare_canary``). Either way the pair of
answers is compared by the scenario's comparer (``algorithms.serve.compare``) and the sums are added to the
server's metrics.

The live answer never waits: ``submit`` puts the request on a bounded queue without blocking (a full queue
drops the copy and counts it, ``outcome="dropped"``) and one daemon thread answers the copies in order. A slow
shadow therefore costs dropped copies, not latency. Its CPU work shares the interpreter with the live path, so
copies are sampled: at most ``per_second`` per other version each second (``MLOPS_SERVING_MIRROR_PER_SECOND``,
default 50 — plenty for a window's comparison; the rest count as ``outcome="sampled_out"``);
``benchmarks/gray.py`` measures what is left.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson

from algorithms.base.contracts import Limits
from algorithms.serve.compare import compare
from algorithms.serve.loading import Loaded
from algorithms.serve.metrics import ServerMetrics

log = logging.getLogger("algorithms.serve")

QUEUE_SIZE = 256
DEFAULT_PER_SECOND = 50.0


@dataclass(frozen=True, slots=True)
class Copy:
    raw: bytes | bytearray
    answered: Loaded  # the version whose answer was returned
    payload: dict[str, Any]  # its answer
    other: Loaded  # the version answering the copy
    other_is_candidate: bool  # True for a shadow; False when stable answers a canary's request


def per_second_from_env() -> float:
    value = float(os.environ.get("MLOPS_SERVING_MIRROR_PER_SECOND", DEFAULT_PER_SECOND))
    if not value > 0:
        raise ValueError(f"MLOPS_SERVING_MIRROR_PER_SECOND must be above 0, not {value}")
    return value


class Mirror:
    def __init__(
        self, metrics: ServerMetrics, limits: Limits, size: int = QUEUE_SIZE, per_second: float | None = None
    ) -> None:
        self.metrics = metrics
        self.limits = limits
        self.per_second = per_second if per_second is not None else per_second_from_env()
        self.queue: queue.Queue[Copy] = queue.Queue(size)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Per other version: (the second counted, copies sent in it). Read and written on the event loop only.
        self._sent: dict[str, tuple[int, int]] = {}
        self._skipped: dict[str, Any] = {}  # bound counter children, looked up once per version

    def submit(self, copy: Copy) -> None:
        """Queue ``copy`` for the mirror thread, if this second's sample has room; never blocks."""
        label = copy.other.label
        second = int(time.monotonic())
        counted, sent = self._sent.get(label, (second, 0))
        if counted != second:
            sent = 0
        if sent >= self.per_second:
            skipped = self._skipped.get(label)
            if skipped is None:
                skipped = self._skipped.setdefault(label, self.metrics.mirror.labels(label, "sampled_out"))
            skipped.inc()
            return
        self._sent[label] = (second, sent + 1)
        if self._thread is None:
            self._start()
        try:
            self.queue.put_nowait(copy)
        except queue.Full:
            self.metrics.mirror.labels(label, "dropped").inc()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="mirror", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            copy = self.queue.get()
            try:
                self.answer(copy)
            except Exception:
                log.exception("mirrored request failed to compare")

    def answer(self, copy: Copy) -> None:
        """Answer one copy with the other version and record the comparison."""
        other, metrics = copy.other, self.metrics
        started = time.perf_counter()
        try:
            payload = other.contract.predict(orjson.loads(copy.raw), other.served, self.limits)
        except Exception:  # noqa: BLE001 - the other version's failure (a ContractError too) is measured
            metrics.mirror.labels(other.label, "error").inc()
            return
        metrics.mirror_latency.labels(other.label).observe(time.perf_counter() - started)
        metrics.mirror.labels(other.label, "ok").inc()
        if copy.other_is_candidate:
            candidate, reference = (other, payload), (copy.answered, copy.payload)
        else:
            candidate, reference = (copy.answered, copy.payload), (other, payload)
        sums = compare(other.scenario, reference[1], candidate[1])
        for stat, value in sums.items():
            if value:
                metrics.compare.labels(candidate[0].label, reference[0].label, stat).inc(value)
