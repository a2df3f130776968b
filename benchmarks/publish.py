"""Benchmark of release publishing: ``python -m benchmarks.publish --size-gb 2 --data-dir DIR``.

Generates a dataset of about ``--size-gb`` of CSV entries, stores them as entries of an anomaly-detection
dataset in a private SeaweedFS, and measures, each in its own child process with its peak RSS sampled:

- ``publish``: the real path: the ``publish-release`` Prefect flow (reporting to a real Prefect server,
  whose process is not counted) streaming every entry from S3 into the release zip and back into S3;
- ``baseline``: the same bytes, read from local files, zipped with ``zipfile`` (same compression: deflate
  level 1) into a temporary file, then uploaded in one call (``ObjectStore.put_file``).

Throughput is dataset bytes (entry bytes in) per second of wall time of the phase's work (imports and
process start excluded). Entries are stored directly (``add_entry``) rather than validated: uploading is
not what is measured. Targets: peak RSS under 300 MB, publish throughput at least 70% of the baseline.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import prefect_server, python, run_phase, seaweedfs, self_maxrss_bytes

UNIQUE_FILES = 8  # distinct generated files; entries cycle through them (each entry is its own object)
RSS_TARGET = 300 * 1024 * 1024
RATIO_TARGET = 0.70


def generate_csv(path: Path, size: int, seed: int) -> int:
    """A realistic series CSV (ISO timestamps, two noisy values, a 0/1 label) of about ``size`` bytes."""
    rng = np.random.default_rng(seed)
    rows_per_block = 100_000
    start = np.datetime64("2020-01-01T00:00:00") + np.timedelta64(seed * 10**7, "s")
    written, row = 0, 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write("timestamp,value,load,label\n")
        while written < size:
            stamps = np.datetime_as_string(
                start + np.arange(row, row + rows_per_block) * np.timedelta64(1, "s")
            )
            values = np.round(
                10 + np.sin(np.arange(rows_per_block) / 50) + rng.normal(0, 0.3, rows_per_block), 4
            )
            load = np.round(rng.gamma(2.0, 1.5, rows_per_block), 3)
            label = (rng.random(rows_per_block) < 0.01).astype(int)
            block = "\n".join(
                f"{t},{v},{w},{y}" for t, v, w, y in zip(stamps, values, load, label, strict=True)
            )
            fh.write(block + "\n")
            written += len(block) + 1
            row += rows_per_block
    return path.stat().st_size


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def prepare(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    """Generate files, store them as entries, create a pending release; returns what the phases need."""
    from catalog.db import migrate, session_scope
    from catalog.scoping import SYSTEM
    from catalog.services import datasets as ds
    from catalog.services import releases as rel
    from catalog.services import team_tree
    from infra.objectstore import ObjectStore

    total = int(args.size_gb * 1024**3)
    n_entries = max(1, args.entries)
    per_entry = total // n_entries
    files_dir = data_dir / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(min(UNIQUE_FILES, n_entries)):
        path = files_dir / f"part{i}.csv"
        if not path.exists() or abs(path.stat().st_size - per_entry) > per_entry * 0.05:
            generate_csv(path, per_entry, seed=i)
        files.append((path, path.stat().st_size, _sha256(path), sum(1 for _ in path.open("rb")) - 1))
    migrate()
    store = ObjectStore.from_settings()
    with session_scope() as session:
        team = team_tree.create_team(session, actor=SYSTEM, name="bench")
        dataset = ds.create_dataset(
            session,
            actor=SYSTEM,
            team_id=team.id,
            scenario="anomaly_detection",  # type: ignore[arg-type]
            name="bench",
        )
        dataset_id = dataset.id
    entries, in_bytes = [], 0
    for i in range(n_entries):
        path, size, digest, rows = files[i % len(files)]
        key = f"datasets/{dataset_id}/entries/{i:05d}/part{i}.csv"
        store.put_file(key, path, content_type="text/csv")
        with session_scope() as session:
            ds.add_entry(
                session,
                actor=SYSTEM,
                dataset_id=dataset_id,
                name=f"part{i}.csv",
                object_key=key,  # type: ignore[arg-type]
                size_bytes=size,
                sha256=digest,
                content_type="text/csv",
                summary={"rows": rows},
                is_train=i % 10 != 0,
                is_test=i % 10 == 0,
            )
        entries.append(str(path))
        in_bytes += size
    with session_scope() as session:
        release = rel.create_release(session, actor=SYSTEM, dataset_id=dataset_id)  # type: ignore[arg-type]
    return {"release_id": release.id, "files": entries, "in_bytes": in_bytes, "entries": n_entries}


def phase_publish(release_id: int) -> dict[str, Any]:
    from catalog.db import session_scope
    from catalog.scoping import SYSTEM
    from catalog.services import releases as rel
    from flows.datasets import publish_release

    started = time.perf_counter()
    publish_release(release_id)
    elapsed = time.perf_counter() - started
    with session_scope() as session:
        release = rel.get_release(session, actor=SYSTEM, release_id=release_id)
    if release.status != "published":
        raise SystemExit(f"release is {release.status}: {release.error}")
    return {"seconds": elapsed, "zip_bytes": release.size_bytes, "sha256": release.sha256}


def phase_baseline(files: list[str]) -> dict[str, Any]:
    from infra.objectstore import ObjectStore

    store = ObjectStore.from_settings()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        out = Path(tmp) / "baseline.zip"
        with zipfile.ZipFile(
            out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True
        ) as zf:
            for i, name in enumerate(files):
                zf.write(name, f"train/{i}_{Path(name).name}")
        size = out.stat().st_size
        store.put_file("baseline/baseline.zip", out, content_type="application/zip")
    return {"seconds": time.perf_counter() - started, "zip_bytes": size}


def child_main(args: argparse.Namespace) -> None:
    if args.phase == "publish":
        result = phase_publish(args.release_id)
    else:
        result = phase_baseline(json.loads(Path(args.files_json).read_text()))
    print(json.dumps({**result, "self_maxrss_bytes": self_maxrss_bytes()}))


def parent_main(args: argparse.Namespace) -> int:
    from infra.embedded.components import platform_env
    from infra.settings import DatabaseSettings, PlatformSettings, Settings, reset_settings

    data_dir = Path(args.data_dir).resolve()
    work = data_dir / f"run-{int(time.time())}"
    work.mkdir(parents=True)
    try:
        with seaweedfs(work) as s3, prefect_server(work) as prefect:
            settings = Settings(
                platform=PlatformSettings(data_dir=work),
                s3=s3,
                prefect=prefect,
                database=DatabaseSettings(url=f"sqlite:///{work / 'catalog.db'}"),
            )
            env = {k: v for k, v in platform_env(settings).items()}
            env.update(
                {
                    "MLOPS_ENV_FILE": "/nonexistent",
                    "MLOPS_DATA_DIR": str(work),
                    "MLOPS_DATABASE_URL": f"sqlite:///{work / 'catalog.db'}",
                    "BENCH_TMP": str(work),
                    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                    "DO_NOT_TRACK": "1",
                    "PREFECT_HOME": str(work / "prefect-client"),
                    "PREFECT_LOGGING_LEVEL": "WARNING",
                    "PREFECT_API_URL": prefect.api_url,
                }
            )
            os.environ.update(env)
            reset_settings()
            print(f"generating and storing ~{args.size_gb} GB in {args.entries} entries ...", file=sys.stderr)
            prep = prepare(args, data_dir)
            files_json = work / "files.json"
            files_json.write_text(json.dumps(prep["files"]))
            me = [python(), "-m", "benchmarks.publish"]
            print("baseline ...", file=sys.stderr)
            base = run_phase([*me, "--phase", "baseline", "--files-json", str(files_json)], env)
            print("publish ...", file=sys.stderr)
            ours = run_phase([*me, "--phase", "publish", "--release-id", str(prep["release_id"])], env)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    mb = prep["in_bytes"] / 1e6
    rows = []
    for name, res in (("baseline: zipfile + one upload", base), ("publish-release flow", ours)):
        rows.append(
            (
                name,
                mb,
                res.output["zip_bytes"] / 1e6,
                res.output["seconds"],
                mb / res.output["seconds"],
                res.peak_rss_bytes / 2**20,
            )
        )
    ratio = rows[1][4] / rows[0][4]
    print(f"\ndataset: {prep['entries']} entries, {mb:,.0f} MB of CSV\n")
    print(f"{'phase':<32} {'in MB':>9} {'zip MB':>9} {'seconds':>8} {'MB/s':>8} {'peak RSS MiB':>13}")
    for name, in_mb, zip_mb, secs, rate, rss in rows:
        print(f"{name:<32} {in_mb:>9,.0f} {zip_mb:>9,.0f} {secs:>8.1f} {rate:>8.1f} {rss:>13.0f}")
    rss_ok = ours.peak_rss_bytes < RSS_TARGET
    print(
        f"\nthroughput ratio publish/baseline: {ratio:.2f} (target >= {RATIO_TARGET:.2f}: "
        f"{'met' if ratio >= RATIO_TARGET else 'MISSED'})"
    )
    print(
        f"publish peak RSS: {ours.peak_rss_bytes / 2**20:.0f} MiB (target < 300 MB: "
        f"{'met' if rss_ok else 'MISSED'})"
    )
    return 0 if rss_ok and ratio >= RATIO_TARGET else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=2.0)
    parser.add_argument("--entries", type=int, default=100, help="how many entries the dataset has")
    parser.add_argument("--data-dir", default=tempfile.gettempdir(), help="where data and servers live")
    parser.add_argument("--keep", action="store_true", help="keep the run directory")
    parser.add_argument("--phase", choices=["publish", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--release-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--files-json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        child_main(args)
        return 0
    return parent_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
