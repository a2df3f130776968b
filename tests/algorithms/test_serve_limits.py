"""Every request limit on the inference server, 413 naming the limit and its variable: records (anomaly
contract, real ECOD model) and images (count, bytes) through ``decode_images``, the helper every image
contract uses, served by a stub image contract on a stub model. An image that does not decode is reported
in its own result while the rest of the batch is answered."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from starlette.testclient import TestClient

from algorithms.base import scenarios
from algorithms.base.contracts import Limits, ScenarioContract, ServedModel, decode_images, decoded_size
from algorithms.serve.app import create_app


class StubImageContract(ScenarioContract):
    scenario: ClassVar[str] = "image_classification"

    def predict(self, body: Any, model: ServedModel, limits: Limits) -> dict[str, Any]:
        results: list[dict[str, Any]] = []
        for image in decode_images(body, limits):
            if isinstance(image, str):
                results.append({"error": image})
            else:
                results.append(
                    {"predictions": [{"class_id": 0, "class_name": "bytes", "confidence": len(image)}]}
                )
        return {"results": results}

    def warmup_body(self, model: ServedModel) -> dict[str, Any]:
        return {"images": [base64.b64encode(b"x").decode()]}


class StubPyfunc:
    metadata = None

    def unwrap_python_model(self) -> Any:
        raise ValueError("no python model")


def wait_ready(client: TestClient) -> None:
    deadline = time.monotonic() + 30
    while client.get("/ready").status_code != 200:
        assert time.monotonic() < deadline, client.get("/ready").json()
        time.sleep(0.02)


@pytest.fixture()
def image_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setitem(scenarios.CONTRACTS, "image_classification", StubImageContract)
    app = create_app(
        "stub:/images",
        scenario="image_classification",
        limits=Limits(max_images=4, max_image_bytes=1000),
        loader=lambda uri: StubPyfunc(),
    )
    with TestClient(app) as c:
        wait_ready(c)
        yield c


def b64(size: int) -> str:
    return base64.b64encode(b"\x89" * size).decode()


def assert_413(response: Any, variable: str, limit: int) -> None:
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert variable in error["message"] and str(limit) in error["message"]
    assert error["details"]["variable"] == variable and error["details"]["limit"] == limit


def test_image_count_limit(image_client: TestClient) -> None:
    assert_413(image_client.post("/predict", json={"images": [b64(10)] * 5}), "MLOPS_PREDICT_MAX_IMAGES", 4)
    assert image_client.post("/predict", json={"images": [b64(10)] * 4}).status_code == 200


def test_image_bytes_limit_for_plain_base64_and_data_uris(image_client: TestClient) -> None:
    for image in (b64(1001), "data:image/png;base64," + b64(1001)):
        response = image_client.post("/predict", json={"images": [b64(5), image]})
        assert_413(response, "MLOPS_PREDICT_MAX_IMAGE_BYTES", 1000)
        assert response.json()["error"]["details"]["index"] == 1
    # Exactly at the limit is accepted (the size is the decoded size, padding included correctly).
    ok = image_client.post("/predict", json={"images": [b64(1000), "data:image/png;base64," + b64(999)]})
    assert ok.status_code == 200
    assert [r["predictions"][0]["confidence"] for r in ok.json()["results"]] == [1000, 999]


def test_an_image_that_does_not_decode_is_reported_alone(image_client: TestClient) -> None:
    response = image_client.post("/predict", json={"images": [b64(3), "not base64 !!", 7, b64(4)]})
    assert response.status_code == 200
    results = response.json()["results"]
    assert results[0]["predictions"][0]["confidence"] == 3 and results[3]["predictions"][0]["confidence"] == 4
    assert "image 1" in results[1]["error"] and "image 2" in results[2]["error"]


def test_image_schema_errors_are_422(image_client: TestClient) -> None:
    for body in ({"images": "x"}, {"images": []}, {}, [1]):
        response = image_client.post("/predict", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "invalid_request" and response.json()["error"]["details"]


def test_record_limit_on_the_anomaly_contract(ecod_model_dir: Path) -> None:
    app = create_app(str(ecod_model_dir), limits=Limits(max_batch_size=5))
    with TestClient(app) as c:
        wait_ready(c)
        rows = [{"timestamp": i, "value": 0.5} for i in range(6)]
        assert_413(c.post("/predict", json={"data": rows}), "MLOPS_PREDICT_MAX_BATCH_SIZE", 5)
        assert c.post("/predict", json={"data": rows[:5]}).status_code == 200
        assert (
            'mlops_predict_errors_total{code="payload_too_large",version="unversioned"} 1.0'
            in c.get("/metrics").text
        )


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 997, 1000])
def test_decoded_size_matches_decoding(size: int) -> None:
    encoded = b64(size)
    assert decoded_size(encoded) == len(base64.b64decode(encoded)) == size
