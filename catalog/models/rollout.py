"""Gray releases of a serving: the progressive roll-outs of a canary version and the decision of each step.

The traffic a serving is meant to run (its canary version and weight, its shadow, its routing header) is on
the ``serving`` row itself (``catalog.models.serving``); a roll-out moves that weight step by step and records
why (``rollout_decision``), so the dashboard, the API and a restarted platform read the same account.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from catalog.models.base import created_at_field, json_field, optional_datetime_field, updated_at_field


class RolloutStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    PROMOTED = "promoted"  # every step passed: the canary is the stable version and champion
    ROLLED_BACK = "rolled_back"  # a window failed (or could not be judged): the canary is off
    ABORTED = "aborted"  # a person stopped it: the canary is off


ACTIVE_ROLLOUTS: tuple[RolloutStatus, ...] = (RolloutStatus.RUNNING, RolloutStatus.PAUSED)
ACTIVE_SQL = "status IN ('running', 'paused')"


class Rollout(SQLModel, table=True):
    __tablename__ = "rollout"
    __table_args__ = (
        # One active roll-out per serving, kept by the database under races.
        Index(
            "uq_rollout_active_serving",
            "serving_id",
            unique=True,
            sqlite_where=text(ACTIVE_SQL),
            postgresql_where=text(ACTIVE_SQL),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    serving_id: int = Field(foreign_key="serving.id", index=True)
    model_id: int = Field(foreign_key="model.id", index=True)
    # The versions at the start: the roll-out promotes ``canary_version`` over ``stable_version``.
    stable_version: int
    canary_version: int
    steps: list[int] = json_field(default_factory=list)
    dwell_seconds: float
    thresholds: dict[str, Any] = json_field()
    status: str = Field(default=RolloutStatus.RUNNING, index=True, max_length=20)
    step: int = Field(default=0, description="index into steps of the step under analysis")
    weight: int = Field(default=0, description="the canary weight the roll-out set last")
    reason: str = Field(default="", max_length=4000)
    flow_run_id: str | None = Field(default=None, max_length=64)
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    finished_at: datetime | None = optional_datetime_field()


class RolloutDecision(SQLModel, table=True):
    """One entry of a roll-out's account: a window's verdict and the action taken, or a person's pause,
    resume or abort, or a restart the platform recovered from."""

    __tablename__ = "rollout_decision"

    id: int | None = Field(default=None, primary_key=True)
    rollout_id: int = Field(foreign_key="rollout.id", index=True)
    step: int
    weight: int
    action: str = Field(
        max_length=20
    )  # advance, hold, promote, rollback, pause, resume, abort, resume_after_restart
    reason: str = Field(default="", max_length=4000)
    figures: dict[str, Any] = json_field()
    actor_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = created_at_field()
