"""The ``Algorithm`` base class every built-in algorithm implements (one module per algorithm).

Lifecycle used by ``algorithms.train``: ``resolve_params`` (by the algorithm's ``param_model``, its one
declaration of its parameters in ``algorithms.params``) → ``read_split`` (train, and test/val/train for
evaluation) → ``fit`` → ``evaluate`` and ``plots`` on the evaluation split → ``pyfunc_model`` (saved with
``pip_requirements`` and ``metadata``).
With tuning (``max_evals > 0``): trials ``fit`` on train with ``tuning_params(base, sampled)`` and are scored
by ``objective`` on val (or on ``holdout`` of train when the release has no val split); the final fit is on
``combine(train, val)`` with the best params.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from importlib.metadata import PackageNotFoundError, version
from typing import Any, ClassVar

import mlflow.pyfunc
from mlflow import MlflowClient
from mlflow.models import ModelSignature

from algorithms.base.release import Release
from algorithms.base.tuning import Objective
from algorithms.params.model import ParamModel

HOLDOUT_FRACTION = 0.2


def pinned(*distributions: str) -> list[str]:
    """``name==installed-version`` for each distribution (unpinned if it is not installed)."""
    out: list[str] = []
    for dist in distributions:
        try:
            out.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            out.append(dist)
    return out


class Algorithm(ABC):
    """One trainable algorithm of one scenario, registered by ``name`` in ``algorithms.registry``."""

    scenario: ClassVar[str]
    name: ClassVar[str]
    #: Its parameters: defaults, bounds, choices, help, the search space its preset offers.
    param_model: ClassVar[type[ParamModel]]
    #: Distributions the *served* model needs (mlflow is always added).
    serving_requirements: ClassVar[tuple[str, ...]] = ("numpy", "pandas")
    #: The validation metric tuning optimises; None: the algorithm cannot be tuned.
    objective: ClassVar[Objective | None] = None

    def use_run(self, client: MlflowClient, run_id: str) -> None:
        """The job's MLflow run, for algorithms that log while they fit (per-epoch metrics); default: unused."""

    def resolve_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """Defaults filled in and values validated by ``param_model``; ValueError naming each bad parameter."""
        return self.param_model.resolve(params, algorithm=self.name)

    def read_split(self, release: Release, split: str) -> Any:
        """The split in the form ``fit``/``evaluate`` take; tabular scenarios get one DataFrame."""
        return release.read_table(split)

    @abstractmethod
    def fit(self, train: Any, params: dict[str, Any]) -> Any:
        """Train on ``train`` with resolved ``params``; returns the algorithm's fitted state."""

    @abstractmethod
    def evaluate(self, fitted: Any, data: Any) -> dict[str, float]:
        """Metrics of ``fitted`` on an evaluation split (may be empty when the split has no labels)."""

    @abstractmethod
    def pyfunc_model(self, fitted: Any) -> mlflow.pyfunc.PythonModel:
        """The self-contained model to serve; it must predict by the scenario's contract."""

    def signature(self) -> ModelSignature | None:
        """The pyfunc signature (params the model accepts at predict time), if any."""
        return None

    def tuning_params(self, base: dict[str, Any], sampled: dict[str, Any]) -> dict[str, Any]:
        """Params of one trial: the job's params overridden by the sampled ones."""
        return base | sampled

    def holdout(self, train: Any) -> tuple[Any, Any]:
        """(fit part, validation part) of ``train`` when the release has no val split: the last 20% of the
        rows, so series keep their order and validation follows what was fitted."""
        cut = int(len(train) * (1.0 - HOLDOUT_FRACTION))
        if cut < 1 or cut >= len(train):
            raise ValueError(f"too few training rows ({len(train)}) to hold out validation data for tuning")
        return train.iloc[:cut].reset_index(drop=True), train.iloc[cut:].reset_index(drop=True)

    def combine(self, train: Any, val: Any) -> Any:
        """The data of the final fit after tuning: train followed by val."""
        import pandas as pd

        return pd.concat([train, val], ignore_index=True)

    def plots(self, fitted: Any, data: Any) -> dict[str, Any]:
        """Figures of ``fitted`` on an evaluation split (name → matplotlib Figure from
        ``algorithms.base.plots``), logged as ``plots/{name}.png``."""
        return {}

    def training_metrics(self, fitted: Any) -> dict[str, float]:
        """Figures known from fitting itself (threshold, sizes, durations)."""
        return {}

    def pip_requirements(self) -> list[str]:
        return pinned("mlflow", *self.serving_requirements)

    def model_metadata(self, fitted: Any) -> dict[str, Any]:
        """Stored in the MLmodel file; the server reads ``scenario`` from it when not told."""
        return {"scenario": self.scenario, "algorithm": self.name}
