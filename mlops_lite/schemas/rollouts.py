"""Gray releases: a serving's traffic (a canary with a weight, a shadow, a routing header) and progressive
roll-outs of a canary (steps, a dwell time, the thresholds each analysis window is judged by, and the decisions
taken).

Versions are of the serving's own model: a number, or an alias resolved when the change is made.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from mlops_lite.schemas.common import JSON_INT, Body, Id, Row
from mlops_lite.schemas.runs import Launch

HEADER_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
REF_HELP = "A version of the serving's model: a number, or an alias ('champion', 'challenger') resolved now."
MAX_STEPS = 20
# A version number or an alias: anything else could never name a version.
REF_PATTERN = r"^([1-9][0-9]{0,8}|champion|challenger|latest)$"
Weight = Annotated[int, Field(ge=1, le=100), JSON_INT]


class Thresholds(Body):
    """What a canary must show over each analysis window to go on; null turns an output check off."""

    max_error_rate: float = Field(0.02, ge=0, le=1, description="The canary's share of 5xx answers.")
    max_p99_ratio: float = Field(2.0, gt=0, le=1000, description="Canary p99 over the stable version's p99.")
    p99_floor_seconds: float = Field(
        0.002,
        ge=0,
        le=60,
        description="p99s below this count as this: sub-millisecond noise is not a regression.",
    )
    min_requests: Annotated[int, Field(ge=1, le=10_000_000), JSON_INT] = Field(
        20, description="Canary requests a window needs for a verdict."
    )
    min_agreement: float | None = Field(
        0.8, ge=0, le=1, description="Labels, classes or templates agreeing with the stable version's."
    )
    min_score_correlation: float | None = Field(
        0.5, ge=-1, le=1, description="Correlation of anomaly scores with the stable version's."
    )
    max_relative_diff: float | None = Field(
        0.5,
        ge=0,
        le=1e6,
        description="Forecasts: mean absolute difference over the stable version's mean value.",
    )
    max_inconclusive: Annotated[int, Field(ge=0, le=100), JSON_INT] = Field(
        3,
        description="Windows with too few canary requests before the roll-out is rolled back.",
    )


class TrafficChange(Body):
    """The traffic a serving is to run; a field left out keeps its value, null clears it."""

    canary: str | None = Field(default=None, pattern=REF_PATTERN, description=REF_HELP)
    weight: Annotated[int, Field(ge=0, le=100), JSON_INT] | None = Field(
        default=None, description="Percent of requests the canary answers."
    )
    shadow: str | None = Field(default=None, pattern=REF_PATTERN, description=REF_HELP)
    routing_header: str | None = Field(
        default=None,
        pattern=HEADER_PATTERN,
        description="Lower-case request header whose value makes the choice sticky (a user or device id).",
    )
    model_id: Id | None = Field(
        default=None, description="The model the versions are of: must be the serving's (checked)."
    )


class StartRollout(Body):
    canary: str = Field(pattern=REF_PATTERN, description=REF_HELP)
    steps: list[Weight] = Field(
        default=[10, 50, 100],
        min_length=1,
        max_length=MAX_STEPS,
        description="Canary weights in percent (1-100), in any order: the roll-out takes them from the smallest "
        "up, each once, and ends at 100 (added when not given).",
    )
    dwell_seconds: float = Field(60.0, ge=1, le=86_400, description="The analysis window at each step.")
    thresholds: Thresholds = Field(default_factory=Thresholds)
    model_id: Id | None = Field(
        default=None, description="The model the canary is a version of: must be the serving's (checked)."
    )

    @field_validator("steps")
    @classmethod
    def _up_to_100(cls, steps: list[int]) -> list[int]:
        # Every list the document allows is a roll-out: sorted, each weight once, ending at 100.
        return sorted({*steps, 100})


class RolloutAction(Body):
    action: Literal["pause", "resume", "abort"]
    reason: str = Field(default="", max_length=500)


class RolloutDecisionOut(Row):
    id: int
    step: int
    weight: int
    action: str = Field(
        description="advance, hold, promote, rollback (a window's verdict), pause, resume, abort (a person), "
        "resume_after_restart (the platform)."
    )
    reason: str
    figures: dict[str, Any] = Field(
        description="The window: requests, errors, p50/p99 per version; comparison."
    )
    actor_id: int | None
    created_at: datetime


class RolloutOut(Row):
    id: int
    team_id: int
    serving_id: int
    model_id: int
    stable_version: int
    canary_version: int
    steps: list[int]
    dwell_seconds: float
    thresholds: dict[str, Any]
    status: str = Field(description="running, paused, promoted, rolled_back or aborted.")
    step: int = Field(description="Index into steps of the step under analysis.")
    weight: int = Field(description="The canary weight set last.")
    reason: str
    flow_run_id: str | None
    created_by: int | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    decisions: list[RolloutDecisionOut] = Field(default_factory=list)


class RolloutChange(Row):
    rollout: RolloutOut
    launch: Launch | None = None
