"""Fixtures of the flow tests: ``seeded``, the training flows' catalog (tests/flows/training_support.py's
``seed_catalog``: a team, its admin and a published release in S3) with the training watch polling every 0.3 s
and an MLflow experiment prefix of the test's own. test_serving_lifecycle.py seeds its own catalog (a
registered model) under the same name. ``platform`` (no inference server left behind) is suite-wide, in
tests/conftest.py."""

from __future__ import annotations

import uuid

import pytest

from tests.flows.training_support import Seeded, seed_catalog, set_training


@pytest.fixture
def seeded(platform_env, monkeypatch: pytest.MonkeyPatch) -> Seeded:  # type: ignore[no-untyped-def]
    # Job ids restart at 1 in every test's catalog while the MLflow server lives for the session: a
    # prefix of its own keeps this test's experiment (and registered models) apart.
    monkeypatch.setenv("MLOPS_MLFLOW_EXPERIMENT_PREFIX", f"t{uuid.uuid4().hex[:10]}")
    set_training(monkeypatch, poll_seconds=0.3)
    return seed_catalog()
