"""The platform's own predict call (``tasks.predict``) and the inference URL per runtime.

Limits and shape: each over-limit request is refused with 413 naming the limit and its variable, and a request
the scenario's declared body refuses with 422 and a detail per field, *before* anything is sent (no server
runs, so a request that got past the checks fails with 409, "not running", instead).
URLs: built per runtime from the serving at request time — process and docker-on-host by host and port,
docker on a user network by container name on 3000, kubernetes by service DNS name on 3000.
"""

from __future__ import annotations

import base64
import sys
from typing import Any

import pytest

from infra.settings import reset_settings

pytestmark = pytest.mark.platform_servers("s3")


def add_serving(scenario: str, name: str) -> Any:
    """A serving row whose observed port is a closed one (nothing is running)."""
    from catalog.db import session_scope
    from catalog.models import Serving
    from tests.flows.test_serving_lifecycle import seed_catalog

    seeded = seed_catalog("unused-model")
    with session_scope() as session:
        serving = Serving(
            team_id=seeded.team_id,
            scenario=scenario,
            name=name,
            train_job_id=seeded.job_id,
            container_name=f"serve-{name}",
            observed_state="running",
            observed_port=9,
        )
        session.add(serving)
        session.flush()
    return seeded.admin, serving


def limit_env(monkeypatch: pytest.MonkeyPatch, **values: int) -> None:
    for key, value in values.items():
        monkeypatch.setenv(f"MLOPS_PREDICT_{key.upper()}", str(value))
    reset_settings()


@pytest.mark.parametrize(
    "scenario, field, item",
    [
        ("anomaly_detection", "data", {"timestamp": 0, "value": 1.5}),
        ("timeseries_predict", "data", {"timestamp": "2024-01-01", "value": 1.5}),
        ("log_clustering", "data", "a log line"),
        ("text_classification", "texts", "a text"),
    ],
)
def test_record_limit_refused_before_sending(
    platform_env: Any, monkeypatch: pytest.MonkeyPatch, scenario: str, field: str, item: Any
) -> None:
    from tasks.predict import PredictError, predict

    limit_env(monkeypatch, max_batch_size=3)
    admin, serving = add_serving(scenario, "s")
    with pytest.raises(PredictError) as refused:
        predict(actor=admin, serving_id=serving.id, payload={field: [item] * 4})
    assert refused.value.status == 413
    assert "MLOPS_PREDICT_MAX_BATCH_SIZE" in str(refused.value) and "3" in str(refused.value)
    assert refused.value.details["variable"] == "MLOPS_PREDICT_MAX_BATCH_SIZE"
    # Not the scenario's request: 422, in the server's words (the field, the value quoted short).
    with pytest.raises(PredictError) as malformed:
        predict(actor=admin, serving_id=serving.id, payload={field: [12345] * 3})
    assert malformed.value.status == 422 and malformed.value.details[0]["record"] == 0, (
        malformed.value.details
    )
    # At the limit the request goes on — and fails only because no server runs.
    with pytest.raises(PredictError) as sent:
        predict(actor=admin, serving_id=serving.id, payload={field: [item] * 3})
    assert sent.value.status == 409 and "is not running" in str(sent.value)


@pytest.mark.parametrize("scenario", ["image_classification", "object_detection"])
def test_image_limits_refused_before_sending(
    platform_env: Any, monkeypatch: pytest.MonkeyPatch, scenario: str
) -> None:
    from tasks.predict import PredictError, encode_image, predict

    limit_env(monkeypatch, max_images=2, max_image_bytes=100)
    admin, serving = add_serving(scenario, "img")
    small = encode_image(b"\0" * 100)
    cases = [
        ([small] * 3, "MLOPS_PREDICT_MAX_IMAGES"),
        ([small, encode_image(b"\0" * 101)], "MLOPS_PREDICT_MAX_IMAGE_BYTES"),
        (["data:image/png;base64," + encode_image(b"\0" * 101)], "MLOPS_PREDICT_MAX_IMAGE_BYTES"),
    ]
    for images, variable in cases:
        with pytest.raises(PredictError) as refused:
            predict(actor=admin, serving_id=serving.id, payload={"images": images})
        assert refused.value.status == 413 and variable in str(refused.value), images[-1][:30]
    with pytest.raises(PredictError) as sent:
        predict(actor=admin, serving_id=serving.id, payload={"images": [small, small]})
    assert sent.value.status == 409


def test_process_runtime_url_is_host_and_live_port(platform_env: Any) -> None:
    from infra.net import free_port
    from infra.runtime.base import ContainerKind, ContainerSpec
    from infra.runtime.registry import get_runtime
    from tasks.serving import inference_url

    _, serving = add_serving("anomaly_detection", "proc")
    runtime = get_runtime()
    port = free_port()
    runtime.start(
        ContainerSpec(
            name=serving.container_name,
            kind=ContainerKind.SERVE,
            port=port,
            command=[sys.executable, "-c", "import time; time.sleep(60)"],
        )
    )
    try:
        # The live port from the runtime wins over a stale observed one.
        assert inference_url(serving) == f"http://{platform_env.runtime.serving_host}:{port}/predict"
    finally:
        runtime.remove(serving.container_name, force=True)


# An inference server stand-in: /ready answers 503 until the file named by argv[2] exists (the model "loads").
READY_SERVER = """
import http.server, os, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        loaded = self.path == "/ready" and os.path.exists(sys.argv[2])
        self.send_response(200 if loaded else 503)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def test_model_ready_once_the_server_says_so(platform_env: Any, tmp_path: Any) -> None:
    """A serving is "running" as soon as its server process runs; model_ready is its /ready answer: False while
    nothing listens or the model loads (503), True once loaded."""
    from infra.net import free_port, http_ok, wait_until
    from infra.runtime.base import ContainerKind, ContainerSpec
    from infra.runtime.registry import get_runtime
    from tasks.predict import model_ready

    admin, serving = add_serving("anomaly_detection", "loading")
    assert not model_ready(actor=admin, serving_id=serving.id)  # no container at all
    runtime = get_runtime()
    port = free_port()
    loaded = tmp_path / "loaded"
    runtime.start(
        ContainerSpec(
            name=serving.container_name,
            kind=ContainerKind.SERVE,
            port=port,
            command=[sys.executable, "-c", READY_SERVER, str(port), str(loaded)],
        )
    )
    try:
        base = f"http://{platform_env.runtime.serving_host}:{port}"
        wait_until(
            lambda: not http_ok(f"{base}/ready") and http_ok_any(f"{base}/ready"),
            timeout=30,
            description="stand-in server listening",
        )
        assert not model_ready(actor=admin, serving_id=serving.id)  # listening, model not loaded: 503
        loaded.touch()
        assert model_ready(actor=admin, serving_id=serving.id)
    finally:
        runtime.remove(serving.container_name, force=True)


def http_ok_any(url: str) -> bool:
    """Whether anything answers HTTP at ``url``, whatever the status."""
    import httpx

    try:
        httpx.get(url, timeout=2.0, trust_env=False)
    except httpx.HTTPError:
        return False
    return True


@pytest.mark.parametrize(
    "env, expected",
    [
        (
            {"MLOPS_RUNTIME_NAME": "docker", "MLOPS_RUNTIME_DOCKER_NETWORK": "mlops-net"},
            "http://serve-7:3000/predict",
        ),
        (
            {"MLOPS_RUNTIME_NAME": "docker", "MLOPS_RUNTIME_DOCKER_NETWORK": "host"},
            "http://127.0.0.1:31234/predict",
        ),  # port from the engine
        (
            {"MLOPS_RUNTIME_NAME": "kubernetes", "MLOPS_RUNTIME_KUBE_NAMESPACE": "ml"},
            "http://serve-7.ml.svc.cluster.local:3000/predict",
        ),
    ],
)
def test_url_per_runtime(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str) -> None:
    from catalog.models import Serving
    from infra.runtime.base import ContainerState, ContainerStatus
    from infra.runtime.docker import DockerRuntime
    from tasks.serving import inference_url

    # The engine's answer for a host-network container: its port label. The serving row's own (stale) port
    # must not be used.
    monkeypatch.setattr(
        DockerRuntime,
        "status",
        lambda self, names: {n: ContainerStatus(n, ContainerState.RUNNING, port=31234) for n in names},
    )

    monkeypatch.setenv("MLOPS_ENV_FILE", "/nonexistent")
    monkeypatch.setenv("MLOPS_RUNTIME_SERVING_HOST", "127.0.0.1")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    try:
        serving = Serving(
            id=7,
            team_id=1,
            scenario="anomaly_detection",
            name="s",
            train_job_id=1,
            container_name="serve-7",
            observed_port=1111,
            port=2222,
        )
        assert inference_url(serving) == expected
    finally:
        reset_settings()


def test_encode_image_round_trips() -> None:
    from tasks.predict import encode_image

    assert base64.b64decode(encode_image(b"\x01\x02\x03")) == b"\x01\x02\x03"
