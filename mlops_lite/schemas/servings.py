"""Servings: a version of a model as an inference server, its lifecycle, and predictions through the platform.

A serving's *desired* state is what its users asked for (running or stopped); its *observed* state is what the
container runtime last reported. Lifecycle changes run as flows (``Launch``, followed with ``progress``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator

from mlops_lite.schemas.common import JSON_INT, Body, Id, Name, Row
from mlops_lite.schemas.runs import Launch

VERSION_HELP = (
    "'latest' (the model's newest version of a finished run, resolved when the serving starts), a version "
    "number, or an alias the serving follows ('champion', 'challenger': it rolls forward when the alias moves)."
)
# A serving serves a model, or a training job's model: exactly one of them is given (null counts as absent).
_ONE_TARGET = [
    {"required": ["train_job_id"], "properties": {"train_job_id": {"type": "integer"}}},
    {"required": ["model_id"], "properties": {"model_id": {"type": "integer"}}},
]
PORT_HELP = "Port to serve on, in MLOPS_RUNTIME_SERVING_PORT_RANGE (default: the runtime picks one)."

# The body of POST /servings/{id}/predict in the API's document: any JSON object; each scenario's exact
# request is in the serving's own document (its /openapi.json).
PREDICT_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": True,
    "description": "The serving's request body, as its scenario's contract declares it (e.g. "
    '{"data": [{"timestamp": "2024-01-01T00:00:00", "value": 1.5}]} for anomaly detection). At most '
    "MLOPS_PREDICT_MAX_BODY_BYTES; checked against the scenario's declared request and the MLOPS_PREDICT_* "
    "limits before it is sent (422, 413).",
}

Port = Annotated[int, Field(ge=1, le=65535), JSON_INT]


class ServingOut(Row):
    id: int
    team_id: int
    scenario: str
    name: str
    model_id: int | None = Field(description="The model whose version it serves.")
    train_job_id: int | None = Field(description="The training job it was created from, if it was.")
    model_version: str = Field(description="'latest', a pinned version number, or an alias it follows.")
    resolved_version: str | None = Field(
        description="The version the server serves ('latest' resolved at start)."
    )
    canary_version: int | None = Field(
        default=None, description="A version of the model answering canary_weight percent of the requests."
    )
    canary_weight: int = Field(default=0, description="Percent of requests the canary answers.")
    shadow_version: int | None = Field(
        default=None, description="A version answering copies of the live requests (never returned)."
    )
    routing_header: str | None = Field(
        default=None, description="The request header whose value makes the canary choice sticky."
    )
    port: int | None = Field(description="The port asked for; None: the runtime chooses.")
    desired_state: str = Field(description="running or stopped: what was asked for.")
    observed_state: str = Field(description="What the runtime last reported: running, exited, not_found, ...")
    observed_port: int | None
    observed_detail: str
    observed_at: datetime | None
    observed_stale: bool = Field(
        description="True: the runtime could not be asked; the state is the last known."
    )
    container_name: str | None
    error: str | None = Field(description="The last lifecycle failure (cleared by a successful start).")
    flow_run_id: str | None
    created_by: int | None
    created_at: datetime
    updated_at: datetime
    url: str | None = Field(
        default=None,
        description="The inference server's own /predict URL, reachable on the serving host's network (GET "
        "/servings/{id} only, while it runs); elsewhere predict through POST /servings/{id}/predict.",
    )
    ready: bool | None = Field(
        default=None,
        description="Whether the server has loaded its model (GET /servings/{id} only, while it runs): a "
        "running server answers predict with 503 until then.",
    )


class CreateServing(Body):
    model_config = ConfigDict(json_schema_extra={"oneOf": _ONE_TARGET})

    name: Name = Field(description="Unique in the team.")
    train_job_id: Id | None = Field(
        default=None, description="A training job whose model is served (or give model_id)."
    )
    model_id: Id | None = Field(default=None, description="The model served (or give train_job_id).")
    model_version: str = Field(default="latest", min_length=1, max_length=20, description=VERSION_HELP)
    port: Port | None = Field(default=None, description=PORT_HELP)
    team_id: Id | None = Field(default=None, description="Default: your first team (the job's team).")
    start: bool = Field(
        default=True,
        description="Launch the serving-start flow at once (the Prefect server is asked first: when it does "
        "not answer nothing is created, 503). False: only record it.",
    )

    @model_validator(mode="after")
    def _one_target(self) -> CreateServing:
        if (self.train_job_id is None) == (self.model_id is None):
            raise ValueError("give either train_job_id or model_id")
        return self


class UpdateServing(Body):
    # A port and any_port together are refused (_one_port), so are a job and a model (_one_target); stated in
    # the document too.
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "not": {
                        "required": ["port", "any_port"],
                        "properties": {"port": {"type": "integer"}, "any_port": {"const": True}},
                    }
                },
                {
                    "not": {
                        "required": ["train_job_id", "model_id"],
                        "properties": {
                            "train_job_id": {"type": "integer"},
                            "model_id": {"type": "integer"},
                        },
                    }
                },
            ]
        }
    )

    model_version: str | None = Field(default=None, min_length=1, max_length=20, description=VERSION_HELP)
    train_job_id: Id | None = Field(default=None, description="Another completed job of the same scenario.")
    model_id: Id | None = Field(default=None, description="Another model of the same scenario.")
    port: Port | None = Field(default=None, description=PORT_HELP)
    any_port: bool = Field(
        default=False, description="Let the runtime choose the port (drops a requested one)."
    )

    @model_validator(mode="after")
    def _one_port(self) -> UpdateServing:
        if self.any_port and self.port is not None:
            raise ValueError("pass either port or any_port, not both")
        if self.train_job_id is not None and self.model_id is not None:
            raise ValueError("pass either train_job_id or model_id, not both")
        return self


class ServingChange(Row):
    """A serving after a create or an update, and the flow launched to apply it (None: nothing launched, e.g.
    created with ``start`` false, or a stopped serving updated)."""

    serving: ServingOut
    launch: Launch | None = None


class InferenceToken(Row):
    serving_id: int
    token: str = Field(
        description="The bearer token the serving's own /predict and /metrics require (Authorization: Bearer)."
    )
