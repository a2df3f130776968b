"""Fixtures of the algorithm tests: generated series, a trained ECOD model saved to a temp dir, and ``env``: the
real servers' environment (``platform_env``, from the shared fixtures in tests/fixtures/servers.py) set for
the test and returned, for training subprocesses.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def make_series(
    n: int, seed: int, *, columns: tuple[str, ...] = ("value",), anomaly_every: int = 50
) -> pd.DataFrame:
    """Smooth noisy series with a +/-4..6 spike every ``anomaly_every`` points (labelled 1)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    frame: dict[str, object] = {"timestamp": pd.date_range("2024-01-01", periods=n, freq="min").astype(str)}
    label = np.zeros(n, dtype=int)
    spikes = rng.choice(n, max(1, n // anomaly_every), replace=False)
    label[spikes] = 1
    for k, col in enumerate(columns):
        v = np.sin(t / (15 + 5 * k)) + rng.normal(0, 0.15, n)
        v[spikes] += rng.choice([-1.0, 1.0], len(spikes)) * rng.uniform(4, 6, len(spikes))
        frame[col] = v.round(5)
    frame["label"] = label
    return pd.DataFrame(frame)


@pytest.fixture(scope="session")
def ecod_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from algorithms.base.tracking import save_pyfunc
    from algorithms.registry import get_algorithm

    algorithm = get_algorithm("ECOD")
    fitted = algorithm.fit(make_series(3000, seed=7), {"contamination": 0.05})
    return save_pyfunc(
        algorithm.pyfunc_model(fitted),
        tmp_path_factory.mktemp("ecod") / "model",
        pip_requirements=algorithm.pip_requirements(),
        metadata=algorithm.model_metadata(fitted),
        signature=algorithm.signature(),
    )


def as_env(platform_env: Any) -> dict[str, str]:
    """The shared fixture's environment, whether it yields a mapping, platform Settings, or sets os.environ."""
    if isinstance(platform_env, Mapping):
        return {str(k): str(v) for k, v in platform_env.items()}
    if hasattr(type(platform_env), "model_fields"):
        from infra.embedded.components import platform_env as env_of

        return env_of(platform_env)
    return dict(os.environ)


@pytest.fixture()
def env(platform_env: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = as_env(platform_env) | {"MLFLOW_DISABLE_TELEMETRY": "true"}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values
