"""Which servings the platform's start brings back (``flows.serving.to_restore``, pure: no engine)."""

from __future__ import annotations

import pytest

from catalog.models import DesiredState, Serving
from catalog.services.serving import Observation
from flows.serving import to_restore


def _serving(serving_id: int, desired: DesiredState) -> Serving:
    return Serving(
        id=serving_id,
        team_id=1,
        name=f"s{serving_id}",
        scenario="anomaly_detection",
        train_job_id=1,
        desired_state=desired,
    )


@pytest.mark.parametrize(
    ("desired", "observed", "stale", "restored"),
    [
        (DesiredState.RUNNING, "failed", False, True),  # stopped with the platform (`mlops down`)
        (DesiredState.RUNNING, "not_found", False, True),  # its container was removed
        (DesiredState.RUNNING, "exited", False, True),
        (DesiredState.RUNNING, "running", False, False),  # kept across the restart (--keep-workloads)
        (DesiredState.RUNNING, "pending", False, False),  # a start is under way
        (DesiredState.RUNNING, "unknown", False, False),
        (DesiredState.RUNNING, "failed", True, False),  # the runtime did not answer: it may well run
        (DesiredState.STOPPED, "failed", False, False),  # stopped on purpose
        (DesiredState.STOPPED, "not_found", False, False),
    ],
)
def test_a_serving_meant_to_run_whose_container_ended_is_restored(
    desired: DesiredState, observed: str, stale: bool, restored: bool
) -> None:
    servings = [_serving(1, desired)]
    observations = {1: Observation(state=observed, stale=stale)}
    assert to_restore(servings, observations) == ([1] if restored else [])


def test_a_serving_the_runtime_said_nothing_about_is_left_alone() -> None:
    assert to_restore(
        [_serving(1, DesiredState.RUNNING), _serving(2, DesiredState.RUNNING)],
        {2: Observation(state="failed")},
    ) == [2]
