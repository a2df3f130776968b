"""Prometheus metrics of the inference server, in a registry of its own (one per app instance).

Requests, latency and errors are labelled by the ``version`` that answered, so that a canary's figures stand
beside the stable version's in one scrape (the roll-out analysis, ``tasks.rollout_analysis``, reads the
difference of two scrapes; Prometheus can scrape the same endpoint). Mirrored requests (a shadow's, or the
stable version's copy of a canary request) count apart (``mlops_mirror_*``), and their comparison with the
answer that was returned is kept as sums (``mlops_compare_sums``, ``algorithms.serve.compare``). The
prediction log counts what it did with each answered request (``mlops_prediction_log_records``).
"""

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

from algorithms.serve.traffic import Target

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
            "mlops_predict_requests",
            "Predict requests by HTTP status and the version that answered ('none': no model read it).",
            ["status", "version"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlops_predict_latency_seconds",
            "Predict request latency by the version that answered.",
            ["version"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "mlops_predict_errors",
            "Failed predict requests by error code and version.",
            ["code", "version"],
            registry=self.registry,
        )
        self.mirror = Counter(
            "mlops_mirror_requests",
            "Copies of live requests answered by another version (a shadow, or stable beside a canary), "
            "by outcome: ok, error, dropped (the queue was full), sampled_out (over the per-second sample).",
            ["version", "outcome"],
            registry=self.registry,
        )
        self.mirror_latency = Histogram(
            "mlops_mirror_latency_seconds",
            "Time a mirrored copy took to answer.",
            ["version"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.compare = Counter(
            "mlops_compare_sums",
            "Sums comparing a candidate's answers with a reference's on the same requests "
            "(algorithms.serve.compare).",
            ["candidate", "reference", "stat"],
            registry=self.registry,
        )
        self.weight = Gauge(
            "mlops_traffic_canary_weight", "Percent of requests the canary answers.", registry=self.registry
        )
        self.role = Gauge(
            "mlops_traffic_role",
            "1 for each version's role in the traffic applied now (stable, canary, shadow).",
            ["role", "version"],
            registry=self.registry,
        )
        self.prediction_log = Counter(
            "mlops_prediction_log_records",
            "Answered requests by what the prediction log did with them (algorithms.serve.predlog): logged, "
            "sampled_out, capped (over the minute's cap), dropped (the buffer was full: not collected in time).",
            ["outcome"],
            registry=self.registry,
        )
        self.records = Counter("mlops_predict_records", "Records predicted.", registry=self.registry)
        self.load_seconds = Gauge(
            "mlops_model_load_seconds", "Time to load and warm up the model.", registry=self.registry
        )
        self.ready = Gauge(
            "mlops_model_ready", "1 once the model is loaded and warmed up.", registry=self.registry
        )

        # Bound children, so that a request does not look its labels up under the metric's lock.
        self._by_status: dict[tuple[int, str], Any] = {}
        self._latency: dict[str, Any] = {}
        self._logged: dict[str, Any] = {}

    def count_request(self, status: int, version: str = "none") -> None:
        child = self._by_status.get((status, version))
        if child is None:
            child = self._by_status.setdefault((status, version), self.requests.labels(str(status), version))
        child.inc()

    def observe(self, version: str, seconds: float) -> None:
        child = self._latency.get(version)
        if child is None:
            child = self._latency.setdefault(version, self.latency.labels(version))
        child.observe(seconds)

    def count_logged(self, outcome: str, n: int) -> None:
        """What the prediction log did with ``n`` answers (``algorithms.serve.predlog``)."""
        child = self._logged.get(outcome)
        if child is None:
            child = self._logged.setdefault(outcome, self.prediction_log.labels(outcome))
        child.inc(n)

    def show_routes(self, target: Target) -> None:
        self.role.clear()
        for role, ref in (("stable", target.stable), ("canary", target.canary), ("shadow", target.shadow)):
            if ref is not None:
                self.role.labels(role, ref.version or "unversioned").set(1)
        self.weight.set(target.weight if target.canary else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
