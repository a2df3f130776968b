"""Traffic in the inference server, in process (starlette TestClient, the same ECOD model under every URI):
a canary answers its share of the requests, sticky keys stay with one version, a shadow answers copies whose
answers are compared and never returned, a new weight applies without a load, and bad control bodies change
nothing. The split, the comparisons and the routing rules themselves are pure and tested without a server."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from algorithms.serve.app import create_app, load_pyfunc
from algorithms.serve.compare import COMPARERS, compare, summarize
from algorithms.serve.traffic import BUCKETS, TrafficRequest, key_bucket, sticky_to_canary
from infra.net import wait_until

CONTROL = "control-token-0123456789"
ADMIN = {"Authorization": f"Bearer {CONTROL}"}
V1, V2, V3 = "models:/m/1", "models:/m/2", "models:/m/3"
BODY = {"data": [{"timestamp": "t0", "value": 0.1}, {"timestamp": "t1", "value": 9.0}]}


def ref(uri: str) -> dict[str, str]:
    return {"model_uri": uri, "version": uri.rsplit("/", 1)[1]}


def test_sticky_buckets_are_stable_and_grow_with_the_weight() -> None:
    keys = [f"user-{i}".encode() for i in range(2000)]
    assert [key_bucket(k) for k in keys] == [key_bucket(k) for k in keys]
    assert all(0 <= key_bucket(k) < BUCKETS for k in keys)
    for low, high in ((10, 50), (50, 100), (0, 10)):
        # A key on the canary stays there when the weight grows.
        assert all(sticky_to_canary(k, high) for k in keys if sticky_to_canary(k, low))
    share = sum(sticky_to_canary(k, 30) for k in keys) / len(keys)
    assert abs(share - 0.30) < 0.04
    assert not any(sticky_to_canary(k, 0) for k in keys) and all(sticky_to_canary(k, 100) for k in keys)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"stable": ref(V1), "canary": ref(V2), "weight": 101}, "less than or equal to 100"),
        ({"stable": ref(V1), "canary": ref(V2), "weight": -1}, "greater than or equal to 0"),
        ({"stable": ref(V1), "weight": 10}, "a weight needs a canary"),
        ({"stable": ref(V1), "canary": ref(V1), "weight": 10}, "the canary is the stable version"),
        ({"stable": ref(V1), "shadow": ref(V1)}, "already answers live requests"),
        ({"stable": ref(V1), "routing_header": "X-User\r\nEvil: 1"}, "should match pattern"),
        ({"stable": {"model_uri": V1, "version": "1\r\n"}}, "should match pattern"),
        ({"stable": ref(V1), "extra": 1}, "Extra inputs"),
    ],
)
def test_traffic_request_refuses(body: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        TrafficRequest.model_validate(body)


def anomaly_answer(labels: list[int], scores: list[float]) -> dict[str, Any]:
    return {"results": [{"label": lab, "score": s} for lab, s in zip(labels, scores, strict=True)]}


def test_anomaly_comparison_sums_give_agreement_and_correlation_over_windows() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    y = 0.8 * x + rng.normal(scale=0.5, size=200)
    total: dict[str, float] = {}
    for start in range(0, 200, 20):  # twenty-record requests, summed as the counters sum them
        part = slice(start, start + 20)
        sums = compare(
            "anomaly_detection",
            anomaly_answer([int(v > 1) for v in x[part]], list(x[part])),
            anomaly_answer([int(v > 1) for v in y[part]], list(y[part])),
        )
        for key, value in sums.items():
            total[key] = total.get(key, 0.0) + value
    figures = summarize(total)
    assert math.isclose(figures["score_correlation"], float(np.corrcoef(x, y)[0, 1]), rel_tol=1e-9)
    assert figures["agreement"] == np.mean((x > 1) == (y > 1)) and figures["records"] == 200


def test_every_scenario_has_a_comparison() -> None:
    from algorithms.base.scenarios import CONTRACTS

    assert set(COMPARERS) == set(CONTRACTS)


@pytest.mark.parametrize(
    ("scenario", "reference", "candidate", "expected"),
    [
        (
            "timeseries_predict",
            {"prediction": [{"value": 10.0}, {"value": 20.0}]},
            {"prediction": [{"value": 11.0}, {"value": 18.0}]},
            {"records": 2, "mean_abs_diff": 1.5, "relative_diff": 0.1},
        ),
        (
            "log_clustering",
            {"template_groups": [{"template": "a <*>", "count": 2, "indices": [0, 2]}], "unknown": [{}]},
            {"template_groups": [{"template": "a <*>", "count": 1, "indices": [0]}], "unknown": [{}, {}]},
            {"records": 3, "agreement": 2 / 3},
        ),
        (
            "text_classification",
            {"results": [{"label": "a"}, {"label": "b"}]},
            {"results": [{"label": "a"}, {"label": "c"}]},
            {"records": 2, "agreement": 0.5},
        ),
        (
            "image_classification",
            {"results": [{"predictions": [{"class_id": 1}]}, {"error": "too big"}]},
            {"results": [{"predictions": [{"class_id": 1}]}, {"error": "too big"}]},
            {"records": 2, "agreement": 1.0},
        ),
        (
            "object_detection",
            {"results": [{"detections": [{"class_id": 2}, {"class_id": 1}]}]},
            {"results": [{"detections": [{"class_id": 1}]}]},
            {"records": 1, "agreement": 0.0},
        ),
    ],
)
def test_comparison_by_scenario(
    scenario: str, reference: dict[str, Any], candidate: dict[str, Any], expected: dict[str, float]
) -> None:
    figures = summarize(compare(scenario, reference, candidate))
    assert figures == pytest.approx(expected)


class Loader:
    """The same ECOD model under every URI; version 3's predictions fail on values above 5."""

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir
        self.loads: list[str] = []

    def __call__(self, uri: str) -> Any:
        self.loads.append(uri)
        pyfunc = load_pyfunc(str(self.model_dir))
        if uri == V3:
            model = pyfunc.unwrap_python_model()
            detect = model.detect_with_info

            def broken(X: Any, *args: Any, **kwargs: Any) -> Any:
                if float(np.max(X)) > 5:
                    raise RuntimeError("broken version")
                return detect(X, *args, **kwargs)

            model.detect_with_info = broken
        return pyfunc


@pytest.fixture()
def loader(ecod_model_dir: Path) -> Loader:
    return Loader(ecod_model_dir)


@pytest.fixture()
def client(loader: Loader) -> Iterator[TestClient]:
    app = create_app(
        V1, loader=loader, control_token=CONTROL, scenario="anomaly_detection", mirror_per_second=1e9
    )
    with TestClient(app) as c:
        wait_until(lambda: c.get("/ready").status_code == 200, timeout=30, description="v1 ready")
        yield c


def traffic(client: TestClient, **body: Any) -> dict[str, Any]:
    """Apply a traffic and wait until /health shows it."""
    response = client.post("/admin/traffic", json=body, headers=ADMIN)
    assert response.status_code in (200, 202), response.text
    wanted = response.json()["loading_traffic"] or response.json()["traffic"]
    wait_until(lambda: client.get("/health").json()["traffic"] == wanted, timeout=60, description="applied")
    return wanted


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_canary_takes_its_share_and_sticky_keys_stay(client: TestClient, loader: Loader) -> None:
    applied = traffic(client, stable=ref(V1), canary=ref(V2), weight=30, routing_header="x-user")
    assert applied == {
        "stable": "1",
        "canary": "2",
        "weight": 30,
        "shadow": None,
        "routing_header": "x-user",
        "compare_canary": True,
    }
    answered = [client.post("/predict", json=BODY).headers["x-model-version"] for _ in range(1500)]
    assert abs(answered.count("2") / len(answered) - 0.30) < 0.05
    for user in ("ann", "bob", "cyd", "dan"):
        seen = {client.post("/predict", json=BODY, headers={"x-user": user}).headers["x-model-version"]}
        seen |= {
            client.post("/predict", json=BODY, headers={"x-user": user}).headers["x-model-version"]
            for _ in range(30)
        }
        assert seen == {"2" if sticky_to_canary(user.encode(), 30) else "1"}
    text = client.get("/metrics").text
    canary_ok = metric(text, "mlops_predict_requests_total", status="200", version="2")
    assert canary_ok >= answered.count("2")
    assert metric(text, "mlops_traffic_canary_weight") == 30
    # Stable answered a copy of each canary request (compare_canary), and agreed (same model).
    wait_until(
        lambda: (
            metric(client.get("/metrics").text, "mlops_mirror_requests_total", version="1", outcome="ok")
            + metric(client.get("/metrics").text, "mlops_mirror_requests_total", outcome="dropped")
            >= canary_ok
        ),
        timeout=30,
        description="copies answered",
    )
    text = client.get("/metrics").text
    records = metric(text, "mlops_compare_sums_total", candidate="2", reference="1", stat="records")
    assert records > 0
    assert metric(text, "mlops_compare_sums_total", candidate="2", reference="1", stat="agree") == records

    # A new weight needs no load: applied at once.
    loads = len(loader.loads)
    again = client.post(
        "/admin/traffic", json={"stable": ref(V1), "canary": ref(V2), "weight": 100}, headers=ADMIN
    )
    assert again.status_code == 200 and again.json()["outcome"] == "applied"
    assert {client.post("/predict", json=BODY).headers["x-model-version"] for _ in range(20)} == {"2"}
    # Promotion: the canary made stable is applied at once, and the stable version's model released.
    promoted = client.post("/admin/model", json=ref(V2), headers=ADMIN)
    assert promoted.status_code == 200 and promoted.json()["model_version"] == "2"
    assert client.get("/health").json()["traffic"]["canary"] is None
    assert len(loader.loads) == loads


def test_shadow_answers_are_compared_never_returned(client: TestClient) -> None:
    traffic(client, stable=ref(V1), shadow=ref(V3))
    bad = {"data": [{"timestamp": "t0", "value": 9.0}]}  # version 3 fails on it
    for _ in range(40):
        assert client.post("/predict", json=BODY).headers["x-model-version"] == "1"
        answer = client.post("/predict", json=bad)
        assert answer.status_code == 200 and answer.headers["x-model-version"] == "1"

    def mirrored() -> float:
        text = client.get("/metrics").text
        return sum(
            metric(text, "mlops_mirror_requests_total", version="3", outcome=o) for o in ("ok", "error")
        )

    wait_until(lambda: mirrored() >= 80, timeout=30, description="shadow copies answered")
    text = client.get("/metrics").text
    assert metric(text, "mlops_mirror_requests_total", version="3", outcome="error") == 80  # BODY has 9.0 too
    assert metric(text, "mlops_predict_requests_total", version="3") == 0


def test_copies_are_sampled_per_second(loader: Loader) -> None:
    app = create_app(
        V1, loader=loader, control_token=CONTROL, scenario="anomaly_detection", mirror_per_second=5
    )
    with TestClient(app) as client:
        wait_until(lambda: client.get("/ready").status_code == 200, timeout=30, description="v1 ready")
        traffic(client, stable=ref(V1), shadow=ref(V2))
        started = time.monotonic()
        for _ in range(60):
            client.post("/predict", json=BODY)
        seconds = math.ceil(time.monotonic() - started) + 1
        text = client.get("/metrics").text
        sampled = metric(text, "mlops_mirror_requests_total", version="2", outcome="sampled_out")
        assert 60 - 5 * seconds <= sampled < 60, (sampled, seconds)


def test_bad_traffic_changes_nothing(client: TestClient, loader: Loader) -> None:
    before = client.get("/health").json()["traffic"]
    for body in (
        {"stable": ref(V1), "canary": ref(V2), "weight": 150},
        {"stable": ref(V1), "weight": 5},
        {"stable": ref(V1)} | {"pad": "x" * 5000},
    ):
        response = client.post("/admin/traffic", json=body, headers=ADMIN)
        assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"
        assert len(response.text) < 600
    user = client.post("/admin/traffic", json={"stable": ref(V2)}, headers={"Authorization": "Bearer nope"})
    assert user.status_code == 401
    assert client.get("/health").json()["traffic"] == before and loader.loads == [V1]
