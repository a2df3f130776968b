"""The inference server as a real process (uvicorn + uvloop + httptools): exit code on a bad model, and
identical scores for concurrent and sequential requests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_argv(model_uri: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "algorithms.serve",
        "--model-uri",
        model_uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]


TOKEN = "test-serving-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def child_env() -> dict[str, str]:
    return os.environ | {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PYTHONUNBUFFERED": "1",
        "MLOPS_SERVING_TOKEN": TOKEN,
    }


def test_bad_model_uri_exits_non_zero(tmp_path: Path) -> None:
    proc = subprocess.run(
        serve_argv(str(tmp_path / "no-such-model"), free_port()),
        env=child_env(),
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "failed to load" in proc.stderr


@pytest.fixture()
def server_url(ecod_model_dir: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        serve_argv(str(ecod_model_dir), port),
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"server exited: {proc.stdout.read() if proc.stdout else ''}"
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server not ready within 60 s"
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_concurrent_scores_equal_sequential_scores(server_url: str) -> None:
    rng = np.random.default_rng(3)
    payloads = [
        {"data": [{"timestamp": j, "value": float(v)} for j, v in enumerate(rng.normal(0, 2, size=int(n)))]}
        for n in rng.integers(1, 400, size=48)
    ]
    with httpx.Client(base_url=server_url, timeout=30, headers=AUTH) as client:
        sequential = [client.post("/predict", json=p).json()["results"] for p in payloads]

    def call(payload: dict) -> list[dict]:
        with httpx.Client(base_url=server_url, timeout=30, headers=AUTH) as c:
            response = c.post("/predict", json=payload)
            assert response.status_code == 200
            return response.json()["results"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(call, payloads * 3))
    assert concurrent == sequential * 3
    assert any(r["label"] == 1 for results in sequential for r in results)


def test_predict_and_metrics_answer_only_the_servings_token(server_url: str) -> None:
    payload = {"data": [{"timestamp": "2024-01-01T00:00:00", "value": 1.0}]}
    with httpx.Client(base_url=server_url, timeout=30) as client:
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token"},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": TOKEN},
        ):
            for method, path in (("POST", "/predict"), ("GET", "/metrics")):
                refused = client.request(
                    method, path, json=payload if method == "POST" else None, headers=headers
                )
                assert refused.status_code == 401, (headers, path, refused.text)
                assert refused.headers["www-authenticate"] == "Bearer"
                assert refused.json()["error"]["code"] == "unauthorized"
        # Liveness and readiness stay open (probes); the documentation too.
        for path in ("/health", "/ready", "/openapi.json"):
            assert client.get(path).status_code == 200, path
        assert client.post("/predict", json=payload, headers=AUTH).status_code == 200
        assert client.get("/metrics", headers=AUTH).status_code == 200


def test_the_server_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in child_env().items() if k != "MLOPS_SERVING_TOKEN"}
    proc = subprocess.run(
        serve_argv(str(tmp_path / "model"), free_port()),
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "MLOPS_SERVING_TOKEN is not set" in proc.stderr
