"""Fixtures of the algorithm tests: generated series and a trained ECOD model saved to a temp dir.
The real servers (``platform_env``) come from the shared fixtures in tests/fixtures/servers.py.
"""

from __future__ import annotations

import os
from pathlib import Path

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
