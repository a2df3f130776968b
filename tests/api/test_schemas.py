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


def test_permission_and_role_names_are_the_catalogs() -> None:
    import re

    from catalog.permissions import ADMIN, BUILTIN_ROLES, KINDS, PERMISSIONS
    from mlops_lite.schemas.common import ADMIN_PERMISSION, ROLE_NAME_PATTERN, TEAM_PERMISSIONS

    assert ADMIN_PERMISSION == ADMIN
    assert set(TEAM_PERMISSIONS) == (set(PERMISSIONS) | {f"{k}:*" for k in KINDS}) - {ADMIN}
    assert all(re.match(ROLE_NAME_PATTERN, name) for name in BUILTIN_ROLES)
