"""Prometheus metrics of the inference server, in a registry of its own (one per app instance)."""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class ServerMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mlops_predict_requests", "Predict requests by HTTP status.", ["status"], registry=self.registry
        )
        self.latency = Histogram(
            "mlops_predict_latency_seconds",
            "Predict request latency.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "mlops_predict_errors", "Failed predict requests by error code.", ["code"], registry=self.registry
        )
        self.records = Counter("mlops_predict_records", "Records predicted.", registry=self.registry)
        self.load_seconds = Gauge(
            "mlops_model_load_seconds", "Time to load and warm up the model.", registry=self.registry
        )
        self.ready = Gauge(
            "mlops_model_ready", "1 once the model is loaded and warmed up.", registry=self.registry
        )

        # Bound children per status, so that a request does not look its label up under the metric's lock.
        self._by_status: dict[int, Any] = {}

    def count_request(self, status: int) -> None:
        child = self._by_status.get(status)
        if child is None:
            child = self._by_status.setdefault(status, self.requests.labels(str(status)))
        child.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
