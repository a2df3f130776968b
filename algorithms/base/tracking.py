"""MLflow logging for training containers: params, metrics, plots, the pyfunc model, and its registration.

Always ``MlflowClient`` with explicit run ids (never the fluent API's active run). The model is saved to a
temp dir with explicit ``pip_requirements`` (inference takes 15-40 s otherwise), uploaded as the run's
``model`` artifact folder and registered from ``runs:/{run_id}/model``. Plots (``algorithms.base.plots``) are
rendered to PNG in a temp dir and uploaded under ``plots/``.
"""

from __future__ import annotations

import json
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import mlflow.pyfunc
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode

from algorithms.base.plots import render

MODEL_ARTIFACT_PATH = "model"
PLOTS_ARTIFACT_PATH = "plots"
MAX_PARAM_LENGTH = 6000  # MLflow's limit on one param value
TAG_MODEL_NAME = "mlops.model_name"
TAG_MODEL_VERSION = "mlops.model_version"


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text[:MAX_PARAM_LENGTH]


def log_params(client: MlflowClient, run_id: str, params: dict[str, Any]) -> None:
    if params:
        client.log_batch(run_id, params=[Param(str(k), _param_value(v)) for k, v in sorted(params.items())])


def log_metrics(client: MlflowClient, run_id: str, metrics: dict[str, float], step: int = 0) -> None:
    now = int(time.time() * 1000)
    batch = [Metric(k, float(v), now, step) for k, v in sorted(metrics.items()) if v is not None]
    if batch:
        client.log_batch(run_id, metrics=batch)


def log_plots(client: MlflowClient, run_id: str, figures: dict[str, Any]) -> list[str]:
    """Upload each matplotlib figure as ``plots/{name}.png``; the artifact paths written."""
    if not figures:
        return []
    with tempfile.TemporaryDirectory(prefix="mlops-plots-") as tmp:
        paths = render(figures, Path(tmp))
        client.log_artifacts(run_id, tmp, PLOTS_ARTIFACT_PATH)
    return [f"{PLOTS_ARTIFACT_PATH}/{p.name}" for p in paths]


def save_pyfunc(
    python_model: mlflow.pyfunc.PythonModel,
    path: Path,
    *,
    pip_requirements: list[str],
    metadata: dict[str, Any] | None = None,
    signature: ModelSignature | None = None,
) -> Path:
    """Save a pyfunc model directory (also used by tests and benchmarks to get a servable model)."""
    with warnings.catch_warnings():
        # No input example on purpose: mlflow would run predict on it and store it; the contract documents input.
        warnings.filterwarnings("ignore", message=".*input example was not provided.*")
        mlflow.pyfunc.save_model(
            str(path),
            python_model=python_model,
            pip_requirements=pip_requirements,
            metadata=metadata,
            signature=signature,
        )
    return path


def ensure_registered_model(client: MlflowClient, name: str) -> None:
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        # A concurrent or earlier job may have created it; that is the state we want.
        if exc.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise


def log_and_register_model(
    client: MlflowClient,
    run_id: str,
    python_model: mlflow.pyfunc.PythonModel,
    *,
    model_name: str,
    pip_requirements: list[str],
    metadata: dict[str, Any] | None = None,
    signature: ModelSignature | None = None,
) -> ModelVersion:
    """Upload the model under the run's ``model`` folder, register a new version, tag the run with it."""
    with tempfile.TemporaryDirectory(prefix="mlops-model-") as tmp:
        model_dir = save_pyfunc(
            python_model,
            Path(tmp) / MODEL_ARTIFACT_PATH,
            pip_requirements=pip_requirements,
            metadata=metadata,
            signature=signature,
        )
        client.log_artifacts(run_id, str(model_dir), MODEL_ARTIFACT_PATH)
    ensure_registered_model(client, model_name)
    model_version = client.create_model_version(
        model_name, source=f"runs:/{run_id}/{MODEL_ARTIFACT_PATH}", run_id=run_id
    )
    client.set_tag(run_id, TAG_MODEL_NAME, model_name)
    client.set_tag(run_id, TAG_MODEL_VERSION, str(model_version.version))
    return model_version
