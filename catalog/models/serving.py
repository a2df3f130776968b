"""Servings: a trained model as a running inference container. Desired and observed state kept apart."""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from catalog.models.base import created_at_field, optional_datetime_field, updated_at_field


class DesiredState(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"


class Serving(SQLModel, table=True):
    __tablename__ = "serving"
    __table_args__ = (
        UniqueConstraint("team_id", "name", name="uq_serving_team_name"),
        # A team's servings of one scenario in name order (the NATS module-data pages, team-scoped lists).
        Index("ix_serving_team_scenario_name", "team_id", "scenario", "name"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    scenario: str = Field(index=True, max_length=40)
    name: str = Field(max_length=200)
    # What it serves: a version of the model (catalog.models.Model), named by ``model_version``: 'latest', a
    # pinned number, or an alias it follows ('champion', 'challenger': the serving rolls forward when it moves).
    model_id: int | None = Field(default=None, foreign_key="model.id", index=True)
    # The job it was created from, when it was (kept for lists and the API's train_job_id).
    train_job_id: int | None = Field(default=None, foreign_key="train_job.id", index=True)
    model_version: str = Field(default="latest", max_length=20, description="'latest', a version or an alias")
    resolved_version: str | None = Field(default=None, max_length=20)
    # The gray release it is meant to run (algorithms.serve.traffic): versions of the same model beside the
    # stable one; a canary answers ``canary_weight`` percent of the requests (sticky by ``routing_header``'s
    # value when set), a shadow answers copies. Applied to the running server by ``tasks.serving_traffic``.
    canary_version: int | None = Field(default=None)
    canary_weight: int = Field(default=0, ge=0, le=100)
    shadow_version: int | None = Field(default=None)
    routing_header: str | None = Field(default=None, max_length=64)
    # The share of answered requests its server logs for monitoring (0: none) and its cap a minute
    # (algorithms.serve.predlog; collected by tasks.prediction_logs). Off by default until the platform runs the
    # collection on its own: a server whose log nobody collects only fills its buffer.
    log_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    log_per_minute: int = Field(default=6000, ge=1, le=1_000_000)
    port: int | None = Field(default=None, description="Requested port; None lets the runtime choose")
    # Requested container limits (None: the runtime's defaults) and what a running serving holds against
    # the team's CPU/memory quotas (catalog.services.quotas), passed to the runtime as limits.
    cpu_limit: float | None = Field(default=None)
    memory_limit_mb: int | None = Field(default=None)
    claimed_cpu: float | None = Field(default=None)
    claimed_memory_mb: int | None = Field(default=None)
    desired_state: str = Field(default=DesiredState.RUNNING, max_length=20)
    # What the runtime last reported (infra.runtime.base.ContainerState values).
    observed_state: str = Field(default="unknown", max_length=20)
    observed_port: int | None = Field(default=None)
    observed_detail: str = Field(default="", max_length=4000)
    observed_at: datetime | None = optional_datetime_field()
    observed_stale: bool = Field(default=False)
    container_name: str | None = Field(default=None, max_length=200)
    error: str | None = Field(default=None, max_length=4000)
    flow_run_id: str | None = Field(default=None, max_length=64)
    # Per-serving salt of its inference token (catalog.services.serving_auth): a new salt revokes the token.
    auth_salt: str = Field(default_factory=lambda: secrets.token_hex(16), max_length=64)
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
