"""Memory of the inference server on image requests at and over the limits: its resident-memory high-water mark
per request, against its own resident memory after loading (the baseline, measured in the same run).

A YOLO classification model (size n, 32 px, one epoch on a few generated images) is served by
``python -m algorithms.serve`` with the default ``MLOPS_PREDICT_*`` limits (25 M pixels per image, 100 M per
request, 64 MiB per body). Before each request the server's peak is reset to its current size (``5`` written
to ``/proc/<pid>/clear_refs``), and after it the peak (``VmHWM`` in ``/proc/<pid>/status``) is read: exact,
no sampling. Cases: one small image; three 8000x8000 PNGs of a few hundred KB (refused from their headers,
413); four 5000x5000 images (at both pixel limits, accepted: decoded and predicted one at a time); five of
them (over the request's pixels, 413); one 5001x5000 (over an image's pixels, 413); a 200 MB body announced by
its content-length and a chunked body that never ends (both 413 before the body is read). Prints a table of
status, peak, peak minus baseline and peak over baseline. Linux only. Run: ``python -m benchmarks.predict_memory``.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import select
import socket
import subprocess
import tempfile
from pathlib import Path

from PIL import Image

from benchmarks.common import start_inference_server

HOST = "127.0.0.1"
MB = 1024 * 1024

TOKEN = "benchmark-serving-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def train_model(workdir: Path) -> Path:
    from algorithms.base.release import Release
    from algorithms.base.tracking import save_pyfunc
    from algorithms.registry import get_algorithm
    from tests.algorithms.vision_data import classification_release

    (workdir / "release.zip").write_bytes(classification_release({"train": 12}, seed=0))
    release = Release.open(workdir / "release.zip")
    algorithm = get_algorithm("YOLOClassification")
    params = algorithm.resolve_params({"epochs": 1, "imgsz": 32, "batch": 4, "warmup_epochs": 0})
    fitted = algorithm.fit(algorithm.read_split(release, "train"), params)
    return save_pyfunc(
        algorithm.pyfunc_model(fitted),
        workdir / "model",
        pip_requirements=algorithm.pip_requirements(),
        metadata=algorithm.model_metadata(fitted),
        signature=algorithm.signature(),
    )


def start_server(model_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_PREDICT_")}  # the defaults
    return start_inference_server(model_dir, log, scenario="image_classification", token=TOKEN, env=env)


def status_kb(pid: int, key: str) -> int:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith(key + ":"))
    return int(line.split()[1])


def reset_peak(pid: int) -> int:
    """Set the peak back to the current resident size; returns that size in bytes."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return status_kb(pid, "VmRSS") * 1024


def png_b64(width: int, height: int) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (90, 140, 200)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def post_json(port: int, payload: dict) -> tuple[int, int, str]:
    body = json.dumps(payload).encode()
    conn = http.client.HTTPConnection(HOST, port, timeout=600)
    conn.request("POST", "/predict", body=body, headers={"Content-Type": "application/json", **AUTH})
    response = conn.getresponse()
    answer = response.read()
    conn.close()
    note = ""
    if response.status != 200:
        note = json.loads(answer)["error"]["details"].get("variable", "")
    return response.status, len(body), note


def post_raw(port: int, head: str, parts: int) -> tuple[int, int, str]:
    """Send ``head`` and up to ``parts`` MiB of chunked body, stopping as soon as the server answers."""
    with socket.create_connection((HOST, port), timeout=60) as sock:
        sock.sendall(head.encode())
        sent = 0
        chunk = b"%x\r\n%s\r\n" % (MB, b" " * MB)
        for _ in range(parts):
            if select.select([sock], [], [], 0)[0]:
                break  # the answer is there: the server read no further
            try:
                sock.sendall(chunk)
            except OSError:  # the server closed the connection after answering
                break
            sent += MB
        answer = b""
        try:
            while more := sock.recv(65536):  # a refusal closes the connection after its answer
                answer += more
        except ConnectionResetError:  # the close came while our last chunks were still unread
            pass
    status = int(answer.split(b" ")[1]) if answer else 0
    return status, sent, "MLOPS_PREDICT_MAX_BODY_BYTES" if b"MAX_BODY_BYTES" in answer else ""


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-predict-memory-") as tmp:
        workdir = Path(tmp)
        print("training a small YOLO classification model ...", flush=True)
        model_dir = train_model(workdir)
        print("starting the server ...", flush=True)
        proc, port = start_server(model_dir, workdir / "server.log")
        try:
            baseline = reset_peak(proc.pid)
            big, bomb, small = png_b64(5000, 5000), png_b64(8000, 8000), png_b64(224, 224)
            cases = [
                ("1 image 224x224", lambda: post_json(port, {"images": [small]})),
                ("3 x 8000x8000 PNG", lambda: post_json(port, {"images": [bomb] * 3})),
                ("4 x 5000x5000 (at the limits)", lambda: post_json(port, {"images": [big] * 4})),
                ("5 x 5000x5000 (100 M + 25 M px)", lambda: post_json(port, {"images": [big] * 5})),
                ("1 x 5001x5000", lambda: post_json(port, {"images": [png_b64(5001, 5000)]})),
                (
                    "200 MB content-length",
                    lambda: post_raw(
                        port,
                        f"POST /predict HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 209715200\r\n\r\n",
                        0,
                    ),
                ),
                (
                    "chunked body, 200 MB offered",
                    lambda: post_raw(
                        port,
                        f"POST /predict HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n",
                        200,
                    ),
                ),
            ]
            rows = []
            for name, call in cases:
                print(f"  {name} ...", flush=True)
                before = reset_peak(proc.pid)
                status, sent, note = call()
                peak = status_kb(proc.pid, "VmHWM") * 1024
                rows.append((name, status, note, sent, before, peak))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"\nbaseline: server resident memory after loading the model = {baseline / MB:.0f} MB\n")
    print(
        f"{'request':<32} {'status':>6} {'refused by':<32} {'sent MB':>7} {'before':>7} {'peak MB':>7} "
        f"{'+req MB':>7} {'+base MB':>8} {'peak/base':>9}"
    )
    for name, status, note, sent, before, peak in rows:
        print(
            f"{name:<32} {status:>6} {note:<32} {sent / MB:7.1f} {before / MB:7.0f} {peak / MB:7.0f} "
            f"{(peak - before) / MB:7.0f} {(peak - baseline) / MB:8.0f} {peak / baseline:9.2f}"
        )
    print(
        "before: resident MB when the request starts (the allocator keeps some of what earlier requests freed); "
        "peak: VmHWM during the request; +req: peak - before; +base and peak/base: against the baseline."
    )


if __name__ == "__main__":
    main()
