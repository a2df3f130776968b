"""The SDK's schemas agree with the catalog on the facts both sides state."""

from __future__ import annotations

from typing import get_args

import pytest
from pydantic import ValidationError

from catalog.scenarios import Scenario
from mlops_lite.schemas.common import ScenarioName
from mlops_lite.schemas.datasets import CreateDataset


def test_scenario_names_are_the_catalogs() -> None:
    assert set(get_args(ScenarioName)) == {s.value for s in Scenario}


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"name": "cpu", "scenario": "anomaly_detection", "team_id": True}, "team_id"),
        ({"name": "cpu", "scenario": "anomaly_detection", "team_id": "3"}, "team_id"),
        ({"name": "cpu", "scenario": "anomaly_detection", "team_id": 0}, "team_id"),
        ({"name": " cpu", "scenario": "anomaly_detection"}, "name"),
        ({"name": "cpu", "scenario": "anomaly"}, "scenario"),
        ({"name": "cpu", "scenario": "anomaly_detection", "colour": "red"}, "colour"),
    ],
)
def test_bodies_take_json_types_as_they_are(body: dict[str, object], where: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CreateDataset.model_validate(body)
    assert [e["loc"][0] for e in caught.value.errors()] == [where]


def test_an_integral_number_is_an_integer() -> None:
    assert (
        CreateDataset.model_validate({"name": "a", "scenario": "log_clustering", "team_id": 7.0}).team_id == 7
    )


def test_the_tuning_limit_is_the_catalogs() -> None:
    from catalog.services.training import MAX_EVALS_LIMIT
    from mlops_lite.schemas.jobs import MAX_EVALS

    assert MAX_EVALS == MAX_EVALS_LIMIT


def test_sizes_people_type_and_read() -> None:
    from mlops_lite.schemas.quotas import format_bytes, parse_bytes, parse_memory_mb

    assert parse_bytes("10GB") == 10 * 10**9 and parse_bytes("1.5 gib") == 3 * 2**29
    assert parse_bytes("512") == 512 and parse_bytes("2k") == 2000
    assert (
        parse_memory_mb("8GiB") == 8192 and parse_memory_mb("8GB") == 7629 and parse_memory_mb("512") == 512
    )
    assert parse_memory_mb("0") == 0
    for bad in ("ten", "10 parsecs", "-1GB", ""):
        with pytest.raises(ValueError, match="is not a size"):
            parse_bytes(bad)
    with pytest.raises(ValueError, match="less than 1 MiB"):
        parse_memory_mb("1000B")
    assert [format_bytes(n) for n in (0, 999, 1000, 1_500_000_000, 2 * 10**18)] == [
        "0 B",
        "999 B",
        "1 kB",
        "1.5 GB",
        "2000 PB",
    ]


def test_a_quota_body_keeps_what_it_was_not_given() -> None:
    from mlops_lite.schemas.quotas import SetQuota

    body = SetQuota.model_validate({"trainings": 2, "cpus": None, "memory_mb": 1024.0})
    assert body.model_dump(exclude_unset=True) == {"trainings": 2, "cpus": None, "memory_mb": 1024}
    assert SetQuota(cpus=4).cpus == 4.0
    for bad in ({"trainings": -1}, {"cpus": float("nan")}, {"stored_bytes": 2**63}, {"trainings": 1.5}):
        with pytest.raises(ValidationError):
            SetQuota.model_validate(bad)


def test_permission_and_role_names_are_the_catalogs() -> None:
    import re

    from catalog.permissions import ADMIN, BUILTIN_ROLES, KINDS, PERMISSIONS
    from mlops_lite.schemas.common import ADMIN_PERMISSION, ROLE_NAME_PATTERN, TEAM_PERMISSIONS

    assert ADMIN_PERMISSION == ADMIN
    assert set(TEAM_PERMISSIONS) == (set(PERMISSIONS) | {f"{k}:*" for k in KINDS}) - {ADMIN}
    assert all(re.match(ROLE_NAME_PATTERN, name) for name in BUILTIN_ROLES)


def test_aliases_and_gate_metrics_are_the_catalogs() -> None:
    from catalog.model_gate import ALIASES, SCENARIO_METRICS
    from mlops_lite.schemas import models

    assert models.ALIASES == ALIASES == get_args(models.AliasName)
    assert set(models.GATE_METRICS) == {m.name for ms in SCENARIO_METRICS.values() for m in ms}
    assert set(get_args(models.GateMetricName)) == set(models.GATE_METRICS)


def test_a_serving_serves_a_model_or_a_job() -> None:
    from mlops_lite.schemas.servings import CreateServing, UpdateServing

    assert CreateServing.model_validate({"name": "s", "model_id": 2}).model_id == 2
    assert CreateServing.model_validate({"name": "s", "train_job_id": 3, "model_id": None}).train_job_id == 3
    for body in ({"name": "s"}, {"name": "s", "train_job_id": 3, "model_id": 2}):
        with pytest.raises(ValidationError, match="give either train_job_id or model_id"):
            CreateServing.model_validate(body)
    with pytest.raises(ValidationError, match="not both"):
        UpdateServing.model_validate({"train_job_id": 3, "model_id": 2})
