"""Helpers of the training flow tests: a catalog with a real published release in S3, jobs, a slow fit.

The release zip is built here (small generated series) and stored in the test's bucket; its catalog row
is written directly, so these tests do not depend on the publish flow. ``slow_fit`` makes ECOD's fit
sleep (``failing_fit`` raise) inside the training container through a ``sitecustomize`` on PYTHONPATH (the
process runtime passes PYTHONPATH on; Docker tests put the folder on the wrapper's): the production entrypoint
is untouched, and only the training process is affected.
"""

from __future__ import annotations

import contextvars
import hashlib
import io
import json
import os
import textwrap
import threading
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pytest

from catalog.scoping import Actor

T = TypeVar("T")


@dataclass(frozen=True)
class Seeded:
    admin: Actor
    team_id: int
    release_id: int


def series(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    value = 10 + np.sin(np.arange(n) / 12) + rng.normal(0, 0.2, n)
    label = np.zeros(n, dtype=int)
    label[n // 3] = 1
    value[n // 3] += 8
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=n, freq="min").astype(str),
            "value": value.round(4),
            "label": label,
        }
    )


def release_zip(dataset_id: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("train/1_cpu.csv", series(400, 1).to_csv(index=False))
        zf.writestr("test/2_cpu.csv", series(100, 2).to_csv(index=False))
        zf.writestr(
            "manifest.json",
            json.dumps(
                {
                    "format": 1,
                    "dataset_id": dataset_id,
                    "dataset": "cpu",
                    "version": "v1",
                    "scenario": "anomaly_detection",
                    "splits": {
                        "train": {"files": ["train/1_cpu.csv"], "samples": 400},
                        "test": {"files": ["test/2_cpu.csv"], "samples": 100},
                    },
                }
            ),
        )
    return buf.getvalue()


def seed_catalog() -> Seeded:
    """Initialise the catalog (admin, default team, presets) and add one published ECOD-ready release."""
    from catalog.db import session_scope
    from catalog.services.init import initialize
    from catalog.services.teams import actor_for
    from infra.settings import get_settings

    initialize(admin_password="training-pass-1", echo=lambda *a, **k: None)
    with session_scope() as session:
        admin = actor_for(session, username=get_settings().platform.admin_username)
    team_id = min(admin.team_ids)
    return Seeded(admin=admin, team_id=team_id, release_id=add_release(team_id))


def add_release(team_id: int, name: str = "cpu") -> int:
    """A dataset of the team and its published release (``release_zip``, stored in S3); the release's id."""
    from catalog.db import session_scope
    from catalog.models import Dataset, DatasetRelease
    from catalog.models.base import utcnow
    from infra.objectstore import ObjectStore
    from infra.settings import get_settings

    with session_scope() as session:
        dataset = Dataset(team_id=team_id, scenario="anomaly_detection", name=name)
        session.add(dataset)
        session.flush()
        body = release_zip(int(dataset.id or 0))
        key = f"releases/{dataset.id}/v1.zip"
        ObjectStore.from_settings(get_settings().s3).put_bytes(key, body, content_type="application/zip")
        release = DatasetRelease(
            dataset_id=dataset.id,
            version="v1",
            status="published",
            object_key=key,
            size_bytes=len(body),
            sha256=hashlib.sha256(body).hexdigest(),
            split_counts={"train": 400, "test": 100},
            published_at=utcnow(),
        )
        session.add(release)
        session.flush()
        return int(release.id or 0)


def create_job(seeded: Seeded, name: str, **params: Any) -> int:
    from catalog.db import session_scope
    from catalog.services import training as tr

    with session_scope() as session:
        job, _ = tr.create_job(
            session,
            actor=seeded.admin,
            team_id=seeded.team_id,
            name=name,
            scenario="anomaly_detection",
            algorithm="ECOD",
            release_id=seeded.release_id,
            params=params or {"contamination": 0.01},
        )
        return int(job.id or 0)


def job_row(job_id: int) -> Any:
    from catalog.db import session_scope
    from catalog.models import TrainJob

    with session_scope() as session:
        return session.get(TrainJob, job_id)


SITECUSTOMIZE = '''
"""Test only: wrap ECOD's fit (see training_support): {what}."""
import importlib.abc, importlib.util, sys, time

class _PatchFit(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "algorithms.ecod":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run_module = spec.loader.exec_module

        def exec_module(module):
            run_module(module)
            fit = module.EcodAlgorithm.fit

            def patched_fit(self, *args, **kwargs):
{body}
                return fit(self, *args, **kwargs)

            module.EcodAlgorithm.fit = patched_fit

        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, _PatchFit())
'''
SLOW_BODY = """print("slow-fit: sleeping", flush=True)
time.sleep({seconds})
print("slow-fit: done", flush=True)"""
FAILING_BODY = """print("failing-fit: about to fail", flush=True)
raise RuntimeError({message!r})"""


def _patch_fit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str, body: str) -> Path:
    folder = tmp_path / "patched-fit"
    folder.mkdir(exist_ok=True)
    indented = textwrap.indent(body, " " * 16)
    (folder / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE).format(what=what, body=indented))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH")) if p)
    )
    return folder


def slow_fit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seconds: float) -> Path:
    """Make ECOD's fit sleep ``seconds`` s, printing a marker before and after; returns the sitecustomize folder."""
    return _patch_fit(tmp_path, monkeypatch, f"sleep {seconds} s", SLOW_BODY.format(seconds=seconds))


def failing_fit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, message: str) -> Path:
    """Make ECOD's fit raise ``RuntimeError(message)`` after a marker line; returns the sitecustomize folder."""
    return _patch_fit(tmp_path, monkeypatch, "raise", FAILING_BODY.format(message=message))


def set_training(monkeypatch: pytest.MonkeyPatch, **values: object) -> None:
    """Set MLOPS_TRAIN_* (e.g. poll_seconds=0.3) and rebuild the settings."""
    from infra.settings import reset_settings

    for key, value in values.items():
        monkeypatch.setenv(f"MLOPS_TRAIN_{key.upper()}", str(value))
    reset_settings()


def wait_for(predicate: Callable[[], T], *, timeout: float, what: str, every: float = 0.1) -> T:
    """Poll until ``predicate()`` is truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def in_thread(fn: Callable[..., T], *args: Any) -> Future[T]:
    """Run ``fn`` in a thread with this thread's context (Prefect's settings and client live in it)."""
    future: Future[T] = Future()
    context = contextvars.copy_context()

    def body() -> None:
        try:
            future.set_result(context.run(fn, *args))
        except BaseException as exc:  # noqa: BLE001 - handed to the test through the future
            future.set_exception(exc)

    threading.Thread(target=body, daemon=True).start()
    return future


def container_log(name: str) -> str:
    from infra.runtime.registry import get_runtime

    return get_runtime().logs(name)
