"""The inference app in process (starlette TestClient): contract, limits, error envelope, readiness, metrics,
and the OpenAPI document built from the declared request (model columns, limits, token)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import orjson
import pandas as pd
import pytest
from starlette.testclient import TestClient

from algorithms.base.anomaly import AnomalyContract
from algorithms.base.contracts import ContractError, Limits, ServedModel
from algorithms.registry import get_algorithm
from algorithms.serve.app import create_app, load_pyfunc
from tests.algorithms.conftest import make_series


def wait_ready(client: TestClient, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if client.get("/ready").status_code == 200:
            return
        time.sleep(0.02)
    raise AssertionError(f"not ready after {deadline_s} s: {client.get('/ready').json()}")


@pytest.fixture()
def client(ecod_model_dir: Path) -> Iterator[TestClient]:
    app = create_app(str(ecod_model_dir), limits=Limits(max_batch_size=100))
    with TestClient(app) as c:
        wait_ready(c)
        yield c


def records(values: list[float]) -> list[dict[str, Any]]:
    return [{"timestamp": f"t{i}", "value": v} for i, v in enumerate(values)]


def test_predict_follows_the_contract_and_matches_pyfunc(client: TestClient, ecod_model_dir: Path) -> None:
    values = [0.1, -0.3, 12.0, 0.5]
    response = client.post("/predict", json={"data": records(values)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["timestamp"] for r in body["results"]] == ["t0", "t1", "t2", "t3"]
    assert set(body["results"][0]) == {"timestamp", "label", "score", "severity"}
    assert [r["label"] for r in body["results"]] == [0, 0, 1, 0]
    assert body["results"][2]["severity"] in {"low", "medium", "high"}
    meta = body["metadata"]
    assert meta["model_uri"] == str(ecod_model_dir) and meta["count"] == 4 and meta["anomalies"] == 1
    assert meta["execution_ms"] >= 0
    # The pyfunc's own predict(DataFrame) gives the same answer as the server's fast path.
    frame = mlflow.pyfunc.load_model(str(ecod_model_dir)).predict(
        pd.DataFrame({"timestamp": [f"t{i}" for i in range(4)], "value": values})
    )
    assert frame["score"].tolist() == pytest.approx([r["score"] for r in body["results"]], rel=1e-12)
    # values objects work for a one-column model too; config.threshold overrides the model's.
    alt = client.post(
        "/predict", json={"data": [{"timestamp": 1, "values": {"value": 12.0}}], "config": {"threshold": 1e6}}
    ).json()
    assert alt["results"][0]["label"] == 0 and alt["results"][0]["score"] == body["results"][2]["score"]


def test_over_the_batch_limit_is_413_naming_the_variable(client: TestClient) -> None:
    response = client.post("/predict", json={"data": records([0.0] * 101)})
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert "MLOPS_PREDICT_MAX_BATCH_SIZE" in error["message"] and "100" in error["message"]
    assert client.post("/predict", json={"data": records([0.0] * 100)}).status_code == 200


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_PREDICT_MAX_BATCH_SIZE", "7")
    monkeypatch.setenv("MLOPS_PREDICT_MAX_IMAGES", "3")
    assert Limits.from_env() == Limits(max_batch_size=7, max_images=3)


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"data": [{"timestamp": 1, "value": 1.0}, {"timestamp": 2, "value": "high"}]}, "value"),
        ({"data": [{"timestamp": 1, "value": 1.0}, {"value": 2.0}]}, "timestamp"),
        ({"data": [{"timestamp": 1, "values": {"other": 1.0}}]}, "values.value"),
        ({"data": [{"timestamp": 1, "value": True}]}, "value"),
        ({"data": "nope"}, "data"),
        ({"data": [{"timestamp": 1, "value": 1.0}], "config": {"threshold": -1}}, "config.threshold"),
    ],
)
def test_schema_errors_are_422_with_details(client: TestClient, payload: dict, field: str) -> None:
    response = client.post("/predict", json=payload)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["message"]
    assert any(d.get("field") == field for d in error["details"]), error
    if isinstance(payload["data"], list) and len(payload["data"]) == 2:
        assert [d["record"] for d in error["details"]] == [1]


def test_invalid_json_and_unknown_routes_use_the_envelope(client: TestClient) -> None:
    bad = client.post("/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    missing = client.get("/nope")
    assert missing.status_code == 404 and "error" in missing.json()


def test_ready_is_503_until_the_model_has_loaded(ecod_model_dir: Path) -> None:
    release = threading.Event()

    def slow_loader(uri: str) -> Any:
        release.wait(30)
        return load_pyfunc(uri)

    with TestClient(create_app(str(ecod_model_dir), loader=slow_loader)) as c:
        assert c.get("/ready").status_code == 503
        assert c.get("/health").json()["ready"] is False
        early = c.post("/predict", json={"data": records([1.0])})
        assert early.status_code == 503 and early.json()["error"]["code"] == "not_ready"
        release.set()
        wait_ready(c)
        health = c.get("/health").json()
        assert (
            health["model_uri"] == str(ecod_model_dir) and health["instance_id"] and health["ready"] is True
        )


def test_load_failure_is_reported_and_never_served(tmp_path: Path) -> None:
    failures: list[BaseException] = []
    with TestClient(create_app(str(tmp_path / "missing"), on_load_failure=failures.append)) as c:
        deadline = time.monotonic() + 30
        while not failures and time.monotonic() < deadline:
            time.sleep(0.02)
        assert failures
        ready = c.get("/ready")
        assert ready.status_code == 503 and ready.json()["load_error"]
        assert c.post("/predict", json={"data": records([1.0])}).status_code == 503


def test_metrics_count_requests_errors_latency_and_load_time(client: TestClient) -> None:
    client.post("/predict", json={"data": records([1.0, 2.0])})
    client.post("/predict", json={"data": records([0.0] * 101)})
    text = client.get("/metrics").text
    # A model served from a local path has no version: its answers are labelled "unversioned".
    assert 'mlops_predict_requests_total{status="200",version="unversioned"} 1.0' in text
    assert 'mlops_predict_requests_total{status="413",version="unversioned"} 1.0' in text
    assert 'mlops_predict_errors_total{code="payload_too_large",version="unversioned"} 1.0' in text
    assert 'mlops_predict_latency_seconds_count{version="unversioned"} 2.0' in text
    assert "mlops_predict_records_total 2.0" in text
    load_line = next(line for line in text.splitlines() if line.startswith("mlops_model_load_seconds "))
    assert float(load_line.split()[1]) > 0


def test_openapi_documents_predict(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/predict" in spec["paths"] and "/ready" in spec["paths"]


def test_predict_body_in_several_chunks_and_other_methods(client: TestClient) -> None:
    # /predict is answered at the ASGI level: a body streamed in chunks must be joined, a client that
    # disconnects gets nothing sent, and other methods still reach FastAPI (405 in the envelope).
    app = client.app
    body = orjson.dumps({"data": records([0.1, 12.0])})
    sent: list[dict[str, Any]] = []

    async def run(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        sent.clear()
        queue = list(messages)

        async def receive() -> dict[str, Any]:
            return queue.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/predict", "headers": [], "query_string": b""}
        await app(scope, receive, send)  # type: ignore[operator]
        return list(sent)

    chunks = [
        {"type": "http.request", "body": body[:7], "more_body": True},
        {"type": "http.request", "body": body[7:], "more_body": False},
    ]
    start, payload = asyncio.run(run(chunks))
    assert start["status"] == 200
    assert dict(start["headers"])[b"content-length"] == str(len(payload["body"])).encode()
    assert [r["label"] for r in orjson.loads(payload["body"])["results"]] == [0, 1]
    assert (
        asyncio.run(
            run([{"type": "http.request", "body": body[:7], "more_body": True}, {"type": "http.disconnect"}])
        )
        == []
    )
    wrong = client.get("/predict")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "http_error"


def test_a_405_names_the_allowed_methods(client: TestClient) -> None:
    # RFC 9110: a 405 carries Allow; the error envelope is kept.
    wrong = client.get("/predict")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    assert wrong.json()["error"]["code"] == "http_error"
    trace = client.request("TRACE", "/health")
    assert trace.status_code == 405 and "GET" in trace.headers["allow"].split(", ")


def test_the_document_is_the_declared_request_and_the_answers(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    predict = spec["paths"]["/predict"]["post"]
    body = predict["requestBody"]["content"]["application/json"]["schema"]
    # The loaded model has one value column: "value" or "values": {"value"}; the batch limit is maxItems.
    assert body["required"] == ["data"] and body["properties"]["data"]["maxItems"] == 100
    schemas = spec["components"]["schemas"]
    assert schemas["ValueRecord"]["required"] == ["timestamp", "value"]
    assert schemas["Values"]["required"] == ["value"]
    assert set(predict["responses"]) == {"200", "400", "413", "422", "503"}
    assert predict["responses"]["200"]["content"]["application/json"]["schema"]["title"] == "AnomalyResponse"
    metrics = spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    # No token, no security scheme (the document says what the server enforces).
    assert "securitySchemes" not in spec["components"] and "security" not in predict


def test_with_a_token_the_document_declares_the_bearer_scheme(ecod_model_dir: Path) -> None:
    with TestClient(create_app(str(ecod_model_dir), token="s3cret")) as c:
        spec = c.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"] == {
        "bearer": {"type": "http", "scheme": "bearer", "description": "The serving's token"}
    }
    for path, method in (("/predict", "post"), ("/metrics", "get")):
        operation = spec["paths"][path][method]
        assert operation["security"] == [{"bearer": []}] and "401" in operation["responses"]
    assert (
        "security" not in spec["paths"]["/health"]["get"] and "security" not in spec["paths"]["/ready"]["get"]
    )


def test_a_model_of_several_columns_is_declared_and_checked_with_them() -> None:
    algorithm = get_algorithm("ECOD")
    fitted = algorithm.fit(make_series(500, seed=3, columns=("cpu", "mem")), {"contamination": 0.05})
    served = ServedModel(uri="mem", pyfunc=None, python_model=algorithm.pyfunc_model(fitted))
    contract, limits = AnomalyContract(), Limits()
    schema = contract.request(served, limits).json_schema()
    assert schema["$defs"]["Values"]["required"] == ["cpu", "mem"] and "ValueRecord" not in schema["$defs"]
    answer = contract.predict(
        {"data": [{"timestamp": 1, "values": {"cpu": 0.1, "mem": 9.0}}]}, served, limits
    )
    assert answer["metadata"]["count"] == 1
    with pytest.raises(ContractError) as refused:
        contract.predict({"data": [{"timestamp": 1, "value": 0.1}]}, served, limits)
    assert refused.value.status == 422 and refused.value.details[0]["field"] == "values"
    with pytest.raises(ContractError) as missing:
        contract.predict({"data": [{"timestamp": 1, "values": {"cpu": 0.1}}]}, served, limits)
    assert missing.value.details == [{"record": 0, "field": "values.mem", "message": "Field required"}]
