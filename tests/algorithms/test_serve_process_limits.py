"""Requests whose cost is far beyond their size, against the inference server as a real process over HTTP:
images of many pixels (refused from their header, before decoding; never all decoded at once), request bodies
over the size limit (refused while they arrive, also by their content-length), and a huge bad value (the 422
quotes an excerpt, not the value)."""

from __future__ import annotations

import base64
import io
import json
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from infra.net import http_ok, wait_until
from tests.algorithms.image_stub import save_size_model
from tests.algorithms.test_serve_process import AUTH, TOKEN, child_env, free_port, serve_argv


def post(url: str, **kwargs: Any) -> httpx.Response:
    """POST as the platform does: with the serving's token."""
    return httpx.post(url, headers=AUTH, **kwargs)


MB = 1024 * 1024
Server = Callable[..., tuple[str, int]]


def png_b64(width: int, height: int, mode: str = "RGB") -> str:
    buf = io.BytesIO()
    Image.new(mode, (width, height)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def high_water_bytes(pid: int) -> int:
    """The process's resident-memory high-water mark (VmHWM), which no sampling can miss."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


@pytest.fixture(scope="module")
def size_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_size_model(tmp_path_factory.mktemp("size-model"))


@pytest.fixture()
def serve() -> Iterator[Server]:
    """Start ``python -m algorithms.serve`` on a model with extra environment; (url, pid) once /ready."""
    procs: list[subprocess.Popen[str]] = []

    def start(model_dir: Path, scenario: str, **env: str) -> tuple[str, int]:
        port = free_port()
        proc = subprocess.Popen(
            [*serve_argv(str(model_dir), port), "--scenario", scenario],
            env=child_env() | env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"

        def exited() -> str | None:
            if proc.poll() is None:
                return None
            return f"server exited: {proc.stdout.read() if proc.stdout else ''}"

        wait_until(
            lambda: http_ok(f"{url}/ready"),
            timeout=90,
            interval=0.05,
            description="server ready",
            abort=exited,
        )
        return url, proc.pid

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=20)


def assert_413(response: httpx.Response, variable: str) -> dict[str, Any]:
    assert response.status_code == 413, response.text[:500]
    error = response.json()["error"]
    assert error["code"] == "payload_too_large" and variable in error["message"], error
    assert error["details"]["variable"] == variable
    return error


# -- pixels ---------------------------------------------------------------------------------------------------


def test_large_dimension_images_are_refused_from_their_header(serve: Server, size_model_dir: Path) -> None:
    """Three 8000x8000 PNGs of a few hundred KB each: 413 by the per-image pixel limit (default), and the
    server's memory high-water mark barely moves (one decoded 8000x8000 RGB image alone is 192 MB)."""
    url, pid = serve(size_model_dir, "image_classification")
    bomb = png_b64(8000, 8000)
    assert len(bomb) < 400_000  # small on the wire
    before = high_water_bytes(pid)
    response = post(f"{url}/predict", json={"images": [bomb] * 3}, timeout=120)
    error = assert_413(response, "MLOPS_PREDICT_MAX_IMAGE_PIXELS")
    assert "8000x8000" in error["message"] and error["details"]["index"] == 0
    assert high_water_bytes(pid) - before < 100 * MB
    # The server still answers a normal request.
    ok = post(f"{url}/predict", json={"images": [png_b64(30, 20)]}, timeout=30)
    assert ok.status_code == 200 and ok.json()["results"][0]["predictions"][0]["class_name"] == "30x20"


def test_request_pixel_limit_and_images_decoded_a_few_at_a_time(serve: Server, size_model_dir: Path) -> None:
    url, _ = serve(
        size_model_dir,
        "image_classification",
        MLOPS_PREDICT_MAX_IMAGE_PIXELS="1000000",
        MLOPS_PREDICT_MAX_REQUEST_PIXELS="2500000",
    )
    big, small = png_b64(1000, 1000), png_b64(10, 10)
    over_one = assert_413(
        post(f"{url}/predict", json={"images": [small, png_b64(1001, 1000)]}, timeout=60),
        "MLOPS_PREDICT_MAX_IMAGE_PIXELS",
    )
    assert over_one["details"]["index"] == 1 and over_one["details"]["limit"] == 1_000_000
    over_all = assert_413(
        post(f"{url}/predict", json={"images": [big, big, big]}, timeout=60),
        "MLOPS_PREDICT_MAX_REQUEST_PIXELS",
    )
    assert over_all["details"]["limit"] == 2_500_000 and "3000000" in over_all["message"]
    # At the limits: accepted, and the model never got more decoded pixels at once than one image's limit
    # (small images still travel together).
    response = post(f"{url}/predict", json={"images": [big, small, small, big]}, timeout=60)
    assert response.status_code == 200, response.text[:500]
    results = response.json()["results"]
    assert [r["predictions"][0]["class_name"] for r in results] == [
        "1000x1000",
        "10x10",
        "10x10",
        "1000x1000",
    ]
    assert max(r["batch_pixels"] for r in results) <= 1_000_000
    assert results[1]["batch_pixels"] == 200  # the two small ones in one call


# -- body size ------------------------------------------------------------------------------------------------


def raw_exchange(url: str, head: str, body: Iterator[bytes] | list[bytes] = ()) -> tuple[int, dict[str, Any]]:
    """Send ``head`` and the body parts, then read the answer. The body may stop short of what the head
    announces: a server that waits for the rest never answers and the socket's deadline fails the test."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode())
        for part in body:
            sock.sendall(part)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed without an answer: {data!r}"
            data += chunk
        header, _, rest = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in header.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(rest) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed in the middle of the answer"
            rest += chunk
    return int(header.split(b" ")[1]), json.loads(rest[:length])


def test_body_over_the_limit_is_refused_as_it_arrives(serve: Server, ecod_model_dir: Path) -> None:
    url, _ = serve(ecod_model_dir, "anomaly_detection", MLOPS_PREDICT_MAX_BODY_BYTES="100000")
    # A content-length above the limit is refused up front: no byte of the body is sent.
    announced = f"POST /predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 200000000\r\n\r\n"
    status, body = raw_exchange(url, announced)
    assert status == 413 and "MLOPS_PREDICT_MAX_BODY_BYTES" in body["error"]["message"]
    assert body["error"]["details"]["limit"] == 100_000
    # Without a length (chunked): refused once 100,001 bytes have arrived, though the body never ends.
    chunked = f"POST /predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    parts = [b"%x\r\n%s\r\n" % (25_000, b" " * 25_000) for _ in range(5)]
    status, body = raw_exchange(url, chunked, parts)
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert body["error"]["details"]["variable"] == "MLOPS_PREDICT_MAX_BODY_BYTES"
    # Under the limit the same server answers.
    rows = [{"timestamp": i, "value": 0.5} for i in range(50)]
    assert post(f"{url}/predict", json={"data": rows}, timeout=30).status_code == 200


# -- error excerpts -------------------------------------------------------------------------------------------


def test_a_huge_bad_value_gets_a_short_422(serve: Server, ecod_model_dir: Path) -> None:
    url, _ = serve(ecod_model_dir, "anomaly_detection")
    huge = "9" * 2_000_000 + "x"
    rows = [{"timestamp": 0, "value": 1.0}, {"timestamp": 1, "value": huge}]
    response = post(f"{url}/predict", json={"data": rows}, timeout=60)
    assert response.status_code == 422
    assert len(response.content) < 2000, len(response.content)
    detail = response.json()["error"]["details"][0]
    assert detail["record"] == 1 and "2000001" in detail["message"].replace(",", "")
    threshold = post(f"{url}/predict", json={"data": rows[:1], "config": {"threshold": huge}}, timeout=60)
    assert threshold.status_code == 422 and len(threshold.content) < 2000
