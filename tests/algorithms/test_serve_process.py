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


def child_env() -> dict[str, str]:
    return os.environ | {"MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1"}


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
    with httpx.Client(base_url=server_url, timeout=30) as client:
        sequential = [client.post("/predict", json=p).json()["results"] for p in payloads]

    def call(payload: dict) -> list[dict]:
        with httpx.Client(base_url=server_url, timeout=30) as c:
            response = c.post("/predict", json=payload)
            assert response.status_code == 200
            return response.json()["results"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(call, payloads * 3))
    assert concurrent == sequential * 3
    assert any(r["label"] == 1 for results in sequential for r in results)
