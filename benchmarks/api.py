"""Benchmark of the platform API: ``python -m benchmarks.api [--size-gb 1] [--rows 10000] [--data-dir DIR]``.

Against a real ``python -m api`` (uvicorn, one worker, as `mlops up` runs it) on a SQLite catalog of
``--rows`` datasets and a private SeaweedFS, each compared with a baseline measured in the same run:

- **lists**: a page of 50 datasets (``GET /api/v1/datasets?offset=&limit=50``, offsets walking every page)
  through the API, an httpx client keeping its connection alive, against the same service call in this
  process (``catalog.services.datasets.list_datasets`` in a session: the work a route does, without HTTP,
  the token check or JSON). Sequential requests give p50/p99 latency and req/s; ``--clients`` clients at
  once give the server's req/s. Bars: API p50 ≤ 5 ms, ≥ 300 req/s.
- **transfers**: a log file of ``--size-gb`` (lines like a service's log) uploaded as a dataset entry through
  the API, streamed as the SDK streams it, and downloaded back (``client.datasets.download``), against the
  same file put into S3 and got back directly (``ObjectStore.put_file`` / ``download_file``): MB/s and the
  ratio (bar ≥ 0.7), and the API process's peak RSS while it works, sampled with psutil every 20 ms (bar
  < 300 MB; after a small warm-up upload, as the first upload of a process imports the validators). The
  upload includes what a direct S3 put does not do: the server validates the log (every line read) before
  the upload becomes an entry; its ``Server-Timing`` answer says how long each step took.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self

import psutil

from benchmarks.common import python, seaweedfs, wait_http

PAGE = 50
P50_BAR_MS = 5.0
RPS_BAR = 300.0
RATIO_BAR = 0.70
RSS_BAR = 300 * 1024 * 1024
CHUNK = 1 << 20


def generate_log(path: Path, size: int) -> Path:
    """About ``size`` bytes of log lines (kept between runs when the size matches: ``--data-dir``)."""
    if path.exists() and abs(path.stat().st_size - size) < 1_000_000:
        return path
    with path.open("wb") as out:
        written, n = 0, 0
        while written < size:
            block = b"".join(
                b"2024-05-01T12:%02d:%02d.%03dZ INFO worker-%d request %d GET /api/v1/items/%d done in %d ms\n"
                % ((i // 60) % 60, i % 60, i % 1000, i % 7, i, (i * 7919) % 100_000, (i * 37) % 1000)
                for i in range(n, n + 20_000)
            )
            n += 20_000
            out.write(block)
            written += len(block)
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


class PeakRss:
    """The peak RSS of a process while the ``with`` block runs, polled every ``interval`` s."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = self.before = self.proc.memory_info().rss
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._done.is_set():
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(self.interval)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def seed_catalog(rows: int) -> Any:
    """Admin, default team and ``rows`` anomaly-detection datasets; returns the admin's Actor."""
    from sqlalchemy import insert

    from catalog.db import session_scope
    from catalog.models import Dataset
    from catalog.models.base import utcnow
    from catalog.services.init import initialize
    from catalog.services.teams import actor_for

    initialize(admin_password="bench-pass-123", echo=lambda *a, **k: None)
    with session_scope() as session:
        admin = actor_for(session, username="admin")
        now = utcnow()
        session.execute(
            insert(Dataset),
            [
                {
                    "team_id": min(admin.team_ids),
                    "scenario": "anomaly_detection",
                    "name": f"ds-{i:06d}",
                    "description": "",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(rows)
            ],
        )
    return admin


def latencies(call: Callable[[int], None], count: int, rows: int) -> dict[str, float]:
    for i in range(min(100, count)):  # warm-up: connections, caches, first imports
        call(i * PAGE % rows)
    times = []
    started = time.perf_counter()
    for i in range(count):
        t = time.perf_counter()
        call(i * PAGE % rows)
        times.append(time.perf_counter() - t)
    total = time.perf_counter() - started
    times.sort()
    return {
        "p50_ms": statistics.median(times) * 1000,
        "p99_ms": times[int(len(times) * 0.99) - 1] * 1000,
        "rps": count / total,
    }


def bench_lists(url: str, token: str, admin: Any, rows: int, count: int, clients: int) -> dict[str, Any]:
    import httpx

    from catalog.db import session_scope
    from catalog.services import datasets as svc

    def in_process(offset: int) -> None:
        with session_scope() as session:
            total, page = svc.list_datasets(session, actor=admin, offset=offset, limit=PAGE)
        assert total == rows and len(page) == PAGE

    headers = {"Authorization": f"Bearer {token}"}

    def through(http: httpx.Client) -> Callable[[int], None]:
        def call(offset: int) -> None:
            answer = http.get("/api/v1/datasets", params={"offset": offset, "limit": PAGE})
            assert answer.status_code == 200 and len(answer.json()["items"]) == PAGE, answer.text[:200]

        return call

    results = {"service in process": latencies(in_process, count, rows)}
    with httpx.Client(base_url=url, headers=headers) as http:
        results["API, 1 client"] = latencies(through(http), count, rows)

    def client_share(n: int) -> None:
        with httpx.Client(base_url=url, headers=headers) as http:
            call = through(http)
            for i in range(n):
                call(i * PAGE % rows)

    share = count // clients
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client_share, [share] * clients))
    results[f"API, {clients} clients"] = {"rps": share * clients / (time.perf_counter() - started)}
    return results


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            yield block


def bench_transfers(url: str, token: str, api_pid: int, source: Path, work: Path) -> dict[str, Any]:
    from infra.objectstore import ObjectStore
    from mlops_lite.client import Client

    size = source.stat().st_size
    store = ObjectStore.from_settings()
    out: dict[str, Any] = {"bytes": size}
    t = time.perf_counter()
    store.put_file("bench/direct.log", source, content_type="text/plain")
    out["s3_up"] = time.perf_counter() - t
    t = time.perf_counter()
    store.download_file("bench/direct.log", work / "direct-copy.log")
    out["s3_down"] = time.perf_counter() - t
    (work / "direct-copy.log").unlink()
    store.delete("bench/direct.log")

    with Client(url, token, timeout=600) as client:
        dataset = client.datasets.create("bench-logs", "log_clustering")
        # Warm-up: the first upload imports the validators (pandas, Pillow: ~100 MiB, once per process).
        warm = generate_log(work / "warm-up.log", 100_000)
        client.datasets.upload(dataset.id, warm)
        with PeakRss(api_pid) as rss:
            t = time.perf_counter()
            # As the SDK's upload streams it (Transport.upload), keeping the answer's headers.
            answer = client.transport.request(
                "POST",
                f"/datasets/{dataset.id}/entries",
                params={"filename": source.name},
                content=_chunks(source),
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            )
            out["api_up"] = time.perf_counter() - t
        out["rss_idle"], out["rss_up"] = rss.before, rss.peak
        timing = {
            part.split(";dur=")[0].strip(): float(part.split(";dur=")[1]) / 1000
            for part in answer.headers["server-timing"].split(",")
        }
        out["server"] = timing
        entry_id = answer.json()["id"]
        target = work / "api-copy.log"
        with PeakRss(api_pid) as rss:
            t = time.perf_counter()
            client.datasets.download(entry_id, target)
            out["api_down"] = time.perf_counter() - t
        out["rss_down"] = rss.peak
    if sha256_of(target) != answer.json()["sha256"] or target.stat().st_size != size:
        raise SystemExit("the downloaded file differs from the upload")
    target.unlink()
    return out


def start_api(env: dict[str, str], work: Path, port: int) -> subprocess.Popen[bytes]:
    log = (work / "api.log").open("wb")
    proc = subprocess.Popen(
        [python(), "-m", "api"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    wait_http(port, "/api/v1/health", proc)
    return proc


def report(lists: dict[str, Any], moved: dict[str, Any], rows: int, count: int) -> bool:
    print(f"\nlists: a page of {PAGE} of {rows:,} datasets, {count:,} requests each\n")
    print(f"{'path':<26} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    for name, r in lists.items():
        p50 = f"{r['p50_ms']:>8.2f}" if "p50_ms" in r else f"{'-':>8}"
        p99 = f"{r['p99_ms']:>8.2f}" if "p99_ms" in r else f"{'-':>8}"
        print(f"{name:<26} {p50} {p99} {r['rps']:>8.0f}")
    api = lists["API, 1 client"]
    best_rps = max(r["rps"] for name, r in lists.items() if name.startswith("API"))
    base = lists["service in process"]
    print(f"API p50 / in-process p50: {api['p50_ms'] / base['p50_ms']:.1f}×")
    p50_ok, rps_ok = api["p50_ms"] <= P50_BAR_MS, best_rps >= RPS_BAR
    print(
        f"bars: API p50 ≤ {P50_BAR_MS:g} ms {'met' if p50_ok else 'MISSED'}; ≥ {RPS_BAR:g} req/s {'met' if rps_ok else 'MISSED'}"
    )

    mb = moved["bytes"] / 1e6
    rows_out = [
        ("S3 direct upload", moved["s3_up"], None, None),
        ("API upload (validated)", moved["api_up"], moved["s3_up"], moved["rss_up"]),
        ("S3 direct download", moved["s3_down"], None, None),
        ("API download (verified)", moved["api_down"], moved["s3_down"], moved["rss_down"]),
    ]
    print(f"\ntransfers: a {mb:,.0f} MB log file\n")
    print(f"{'path':<30} {'seconds':>8} {'MB/s':>8} {'ratio':>6} {'API peak RSS MiB':>17}")
    for name, seconds, baseline, rss in rows_out:
        ratio = f"{baseline / seconds:>6.2f}" if baseline else f"{'':>6}"
        peak = f"{rss / 2**20:>17.0f}" if rss else f"{'':>17}"
        print(f"{name:<30} {seconds:>8.1f} {mb / seconds:>8.1f} {ratio} {peak}")
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in moved["server"].items())
    print(
        f"the server's account of the upload (Server-Timing): {steps} (the last parts go up while it validates)"
    )
    print(
        f"API process RSS before the transfers (after the warm-up upload): {moved['rss_idle'] / 2**20:.0f} MiB"
    )
    up_ratio = moved["s3_up"] / moved["api_up"]
    down_ratio = moved["s3_down"] / moved["api_down"]
    rss_ok = max(moved["rss_up"], moved["rss_down"]) < RSS_BAR
    print(
        f"bars: MB/s ratio ≥ {RATIO_BAR:.2f}: upload {up_ratio:.2f} {'met' if up_ratio >= RATIO_BAR else 'MISSED'}, "
        f"download {down_ratio:.2f} {'met' if down_ratio >= RATIO_BAR else 'MISSED'}; "
        f"API peak RSS < 300 MB {'met' if rss_ok else 'MISSED'}"
    )
    return p50_ok and rps_ok and rss_ok and down_ratio >= RATIO_BAR and up_ratio >= RATIO_BAR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=1.0, help="size of the transferred file")
    parser.add_argument("--rows", type=int, default=10_000, help="datasets in the catalog")
    parser.add_argument("--requests", type=int, default=2_000, help="list requests per measurement")
    parser.add_argument("--clients", type=int, default=4, help="clients at once for the server's req/s")
    parser.add_argument("--data-dir", default=tempfile.gettempdir(), help="where data and servers live")
    parser.add_argument("--keep", action="store_true", help="keep the run directory")
    args = parser.parse_args(argv)

    from infra.embedded.components import platform_env
    from infra.net import free_port
    from infra.settings import DatabaseSettings, PlatformSettings, Settings, reset_settings

    data_dir = Path(args.data_dir).resolve()
    work = data_dir / f"api-run-{int(time.time())}"
    work.mkdir(parents=True)
    source = generate_log(data_dir / f"api-bench-{args.size_gb:g}gb.log", int(args.size_gb * 1e9))
    api: subprocess.Popen[bytes] | None = None
    try:
        with seaweedfs(work) as s3:
            port = free_port()
            settings = Settings(
                platform=PlatformSettings(data_dir=work),
                s3=s3,
                database=DatabaseSettings(url=f"sqlite:///{work / 'catalog.db'}"),
            )
            env = {
                **os.environ,
                **platform_env(settings),
                "MLOPS_ENV_FILE": "/nonexistent",
                "MLOPS_API_PORT": str(port),
                "MLOPS_UPLOAD_MAX_BYTES": str(max(source.stat().st_size * 2, 1 << 30)),
                "MLOPS_PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api",  # no flow is run
                "TMPDIR": str(work),  # the API's staging file goes to the data dir too
            }
            os.environ.update(env)
            reset_settings()
            print(f"catalog of {args.rows:,} datasets ...", file=sys.stderr)
            admin = seed_catalog(args.rows)
            api = start_api(env, work, port)
            token = (work / "operator-token").read_text().strip()
            url = f"http://127.0.0.1:{port}"
            print("lists ...", file=sys.stderr)
            lists = bench_lists(url, token, admin, args.rows, args.requests, args.clients)
            print("transfers ...", file=sys.stderr)
            moved = bench_transfers(url, token, api.pid, source, work)
    finally:
        if api is not None:
            os.killpg(api.pid, 15)
            api.wait(timeout=30)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if report(lists, moved, args.rows, args.requests) else 1


if __name__ == "__main__":
    raise SystemExit(main())
