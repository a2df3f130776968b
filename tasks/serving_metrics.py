"""A serving's metrics as the platform reads them: its inference server's ``/metrics`` (Prometheus text, labelled
by version: ``algorithms.serve.metrics``) scraped with the serving's token, parsed into samples, and the window
between two scrapes, for the roll-out analysis (``flows.rollout_rules``) and the dashboard's serving page.

The window is the difference of two scrapes (counters only grow; a server restarted in between shows smaller or
missing counters, and the window is then marked ``reset``). For two versions apart it gives the requests
answered, the errors (HTTP 5xx: the model failed; a 4xx is the caller's and is the same for both), the p50/p99
latency (from the histogram buckets, linear within a bucket as Prometheus' ``histogram_quantile``), and the
comparison of one version's answers with the other's on the same requests (``algorithms.serve.compare``: a
shadow's copies, or the stable version's copy of each canary request).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from algorithms.serve.compare import summarize
from catalog.models import Serving
from catalog.services import serving as serving_service
from tasks.serving import inference_url

REQUESTS = "mlops_predict_requests"
LATENCY = "mlops_predict_latency_seconds"
COMPARE = "mlops_compare_sums"

Labels = tuple[tuple[str, str], ...]
Snapshot = dict[tuple[str, Labels], float]


def parse(text: str) -> Snapshot:
    """The samples of a Prometheus text scrape: (sample name, sorted labels) → value."""
    out: Snapshot = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return out


@dataclass(frozen=True, slots=True)
class VersionWindow:
    requests: float = 0.0
    errors: float = 0.0
    p50: float | None = None
    p99: float | None = None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


@dataclass(frozen=True, slots=True)
class Window:
    stable: VersionWindow
    canary: VersionWindow
    comparison: dict[str, float] = field(default_factory=dict)
    reset: bool = False

    def figures(self) -> dict[str, Any]:
        return {
            "stable": _figures(self.stable),
            "canary": _figures(self.canary),
            "comparison": self.comparison,
        }


def _figures(v: VersionWindow) -> dict[str, Any]:
    return {
        "requests": v.requests,
        "errors": v.errors,
        "error_rate": v.error_rate,
        "p50": v.p50,
        "p99": v.p99,
    }


def _delta(before: Snapshot, after: Snapshot, name: str, **match: str) -> dict[Labels, float]:
    out: dict[Labels, float] = {}
    for (sample, labels), value in after.items():
        if sample != name:
            continue
        if any(dict(labels).get(k) != v for k, v in match.items()):
            continue
        out[labels] = value - before.get((sample, labels), 0.0)
    return out


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """``histogram_quantile``: ``buckets`` are (upper bound, cumulative count), +Inf last."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if math.isinf(upper):
                return lower  # above the highest finite bucket: its bound is all that is known
            if count == below:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return lower


def _version(before: Snapshot, after: Snapshot, version: str) -> VersionWindow:
    requests = errors = 0.0
    for labels, value in _delta(before, after, REQUESTS + "_total", version=version).items():
        requests += value
        if dict(labels).get("status", "").startswith("5"):
            errors += value
    buckets: dict[float, float] = defaultdict(float)
    for labels, value in _delta(before, after, LATENCY + "_bucket", version=version).items():
        buckets[float(dict(labels)["le"])] += value
    pairs = list(buckets.items())
    return VersionWindow(requests, errors, quantile(0.5, pairs), quantile(0.99, pairs))


def window(before: Snapshot, after: Snapshot, *, stable: str, canary: str) -> Window:
    """What happened between two scrapes, for ``stable`` and ``canary`` (versions as the server labels them)."""
    # Counters only grow: one that shrank or vanished means another process answers now.
    reset = any(
        after.get(key, -1.0) < value for key, value in before.items() if key[0].endswith(("_total", "_count"))
    )
    sums: dict[str, float] = {}
    for labels, value in _delta(
        before, after, COMPARE + "_total", candidate=canary, reference=stable
    ).items():
        sums[dict(labels)["stat"]] = value
    return Window(_version(before, after, stable), _version(before, after, canary), summarize(sums), reset)


def scrape(serving: Serving, timeout: float = 10.0) -> Snapshot:
    """The serving's metrics now (its own /metrics, with its inference token)."""
    response = httpx.get(
        inference_url(serving).removesuffix("/predict") + "/metrics",
        headers={"Authorization": f"Bearer {serving_service.inference_token(serving)}"},
        timeout=timeout,
        trust_env=False,
    )
    response.raise_for_status()
    return parse(response.text)


def versions(snapshot: Snapshot) -> list[str]:
    """The versions that answered requests, in the order first seen."""
    out: list[str] = []
    for name, labels in snapshot:
        version = dict(labels).get("version")
        if name == REQUESTS + "_total" and version and version != "none" and version not in out:
            out.append(version)
    return out
