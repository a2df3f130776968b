"""Helpers of the roll-out tests: a registered model whose versions are a stable ECOD model, a good canary, a canary
broken on a share of the inputs and a slow one; a load client sending a mix of requests (every fifth has a spike
the broken canary fails on) with a routing key per request, recording who answered each.

Versions: 1 and 2 are ECOD models fitted on two series of the same process (they agree); 3 is ``SpikeBroken`` (an
ECOD model failing any request holding a value above ``SPIKE_LIMIT``, the server's warm-up passes); 4 is
``Slow`` (the same model, ``SLOW_SECONDS`` per request, off the event loop, as a heavier model would be).
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any, Self

import httpx
import numpy as np

from algorithms.ecod import EcodPythonModel
from tests.flows.follow_support import Registered
from tests.flows.test_serving_lifecycle import ecod_series

SPIKE_LIMIT = 4.0
SLOW_SECONDS = 0.03
CALM = {"data": [{"timestamp": i, "value": v} for i, v in enumerate([0.1, 0.2, 0.3])]}
SPIKY = {"data": [{"timestamp": i, "value": v} for i, v in enumerate([0.1, 6.0, 0.2])]}


class SpikeBroken(EcodPythonModel):  # type: ignore[misc]
    """Fails every request holding a value above SPIKE_LIMIT: a version that errors on a share of the inputs."""

    def detect_with_info(self, X: np.ndarray, threshold: float | None = None) -> Any:
        if X.size and float(np.max(X)) > SPIKE_LIMIT:
            raise RuntimeError("broken on spikes, on purpose")
        return super().detect_with_info(X, threshold)


class Slow(EcodPythonModel):  # type: ignore[misc]
    """SLOW_SECONDS per request, in a worker thread (not inline: a slow model must not hold the event loop)."""

    inline_safe = False

    def detect_with_info(self, X: np.ndarray, threshold: float | None = None) -> Any:
        time.sleep(SLOW_SECONDS)
        return super().detect_with_info(X, threshold)


def _recast(model: EcodPythonModel, cls: type[EcodPythonModel]) -> EcodPythonModel:
    out = cls.__new__(cls)
    out.__dict__.update(model.__dict__)
    return out


def register_rollout_versions(tracking_uri: str) -> Registered:
    from mlflow import MlflowClient

    from algorithms.base.tracking import log_and_register_model
    from algorithms.registry import get_algorithm

    client = MlflowClient(tracking_uri=tracking_uri)
    name = f"rollout-test-{uuid.uuid4().hex[:8]}"
    algorithm = get_algorithm("ECOD")
    runs: dict[int, str] = {}
    for seed, cls in ((1, None), (2, None), (1, SpikeBroken), (1, Slow)):
        fitted = algorithm.fit(ecod_series(500, seed=seed), {"contamination": 0.05})
        python_model = algorithm.pyfunc_model(fitted)
        if cls is not None:
            python_model = _recast(python_model, cls)
        run = client.create_run("0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            version = log_and_register_model(
                client,
                run.info.run_id,
                python_model,
                model_name=name,
                pip_requirements=algorithm.pip_requirements(),
                metadata=algorithm.model_metadata(fitted),
                signature=algorithm.signature(),
            )
        client.set_terminated(run.info.run_id)
        runs[int(version.version)] = run.info.run_id
    assert sorted(runs) == [1, 2, 3, 4]
    return Registered(name, runs)


@dataclass(frozen=True)
class Answer:
    sent: float
    done: float
    spiky: bool
    key: str
    status: int | None
    version: str | None  # x-model-version
    error: str | None = None


@dataclass
class Load:
    """A client sending requests in a loop (every fifth one spiky, each with an ``x-user`` key of 50)."""

    url: str
    token: str
    pace: float = 0.005
    seen: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(60)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(timeout=30, trust_env=False, headers=headers) as client:
            for i in itertools.count():
                if self._stop.is_set():
                    return
                spiky, key = i % 5 == 4, f"user-{i % 50}"
                sent = time.monotonic()
                try:
                    r = client.post(self.url, json=SPIKY if spiky else CALM, headers={"x-user": key})
                    self.seen.append(
                        Answer(
                            sent,
                            time.monotonic(),
                            spiky,
                            key,
                            r.status_code,
                            r.headers.get("x-model-version"),
                        )
                    )
                except Exception as exc:  # noqa: BLE001 - a failed request is what the test counts
                    self.seen.append(Answer(sent, time.monotonic(), spiky, key, None, None, f"{exc!r}"))
                time.sleep(self.pace)

    def between(self, start: float, end: float) -> list[Answer]:
        return [a for a in list(self.seen) if start <= a.sent and a.done <= end]
