"""Custom training jobs ("bring your own training code"): the user's image, command, environment and resources.

``CustomSpec`` holds every rule of a custom job's container once: the API's body (``CreateCustomJob``), the SDK
and the catalog service (``catalog.services.custom_jobs``, for every edge) all validate with it. What the
platform gives the container (the MLflow run and tracking variables, ``MLOPS_*``) is listed in
docs/architecture.md ("Custom training jobs"); those names are reserved and cannot be set or overridden here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator

from mlops_lite.schemas.common import JSON_INT, Body, Id, Name, Row
from mlops_lite.schemas.jobs import AUTO_PROMOTE_HELP, MODEL_HELP

MAX_IMAGE_CHARS = 512  # the whole reference; its name part at most MAX_IMAGE_NAME_CHARS (Docker's limit)
MAX_IMAGE_NAME_CHARS = 255
MAX_COMMAND_ARGS = 256
MAX_ARG_CHARS = 16_384
MAX_COMMAND_CHARS = 65_536
MAX_ENV_VARS = 64
MAX_ENV_NAME_CHARS = 128
MAX_ENV_VALUE_CHARS = 16_384
MAX_ENV_CHARS = 65_536
MIN_CPU, MAX_CPU = 0.01, 64.0
MIN_MEMORY_MB, MAX_MEMORY_MB = 64, 262_144
# The platform's own variables (docs/architecture.md): whole families, so a later addition stays reserved.
RESERVED_ENV_PREFIXES: tuple[str, ...] = ("MLOPS_", "MLFLOW_", "AWS_")
RESERVED_ENV_NAMES: frozenset[str] = frozenset({"PYTHONUNBUFFERED", "DO_NOT_TRACK"})

# The Docker / OCI reference grammar (distribution/reference): [domain[:port]/]path[:tag][@digest].
_DOMAIN = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])(?:\.(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]))*(?::[0-9]+)?"
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE_RE = re.compile(
    rf"(?P<name>(?:{_DOMAIN}/)?{_PATH}(?:/{_PATH})*)"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MEMORY_RE = re.compile(r"([0-9]+)\s*(Mi|Gi|M|G|m|g)?")


def excerpt(value: Any, limit: int = 40) -> str:
    """A short quote of a rejected value with its full length (never the whole input)."""
    text = str(value)
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}… ({len(text)} characters)"


def is_reserved_env(name: str) -> bool:
    upper = name.upper()
    return upper in RESERVED_ENV_NAMES or upper.startswith(RESERVED_ENV_PREFIXES)


def parse_memory(value: int | str | None) -> int | None:
    """MiB from ``512`` / ``"512"`` / ``"512Mi"`` / ``"512m"`` (Docker's MiB) / ``"2Gi"`` / ``"2g"``."""
    if value is None or isinstance(value, int):
        return value
    match = _MEMORY_RE.fullmatch(value.strip())
    if not match:
        raise ValueError(f"memory {excerpt(value)} is not a size: a number of MiB, or e.g. 512Mi, 2Gi")
    number, unit = int(match.group(1)), (match.group(2) or "Mi")
    return number * 1024 if unit in ("Gi", "G", "g") else number


class CustomSpec(Body):
    """What a custom job runs: ``command`` (argv, no shell) in ``image``, with ``env`` added to the platform's
    variables, limited to ``cpu_limit`` cores and ``memory_limit_mb`` MiB (default: the runtime's limits)."""

    image: str = Field(
        min_length=1,
        max_length=MAX_IMAGE_CHARS,
        description="Image reference, e.g. registry.example:5000/team/train:1.2 or python@sha256:…; "
        "ignored by the process runtime (the command runs on the platform host, see the docs).",
    )
    command: list[str] = Field(
        min_length=1,
        max_length=MAX_COMMAND_ARGS,
        description="argv run in the image (no shell): its exit code decides the job's success.",
        # What _command checks (with messages naming the argument), stated for the document too.
        json_schema_extra={
            "prefixItems": [{"type": "string", "pattern": r"\S"}],
            "items": {"type": "string", "maxLength": MAX_ARG_CHARS, "pattern": r"^[^\x00]*$"},
        },
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        max_length=MAX_ENV_VARS,
        # What _env checks (with messages naming the variable), stated for the document too.
        json_schema_extra={
            "propertyNames": {"maxLength": MAX_ENV_NAME_CHARS, "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
            "additionalProperties": {
                "type": "string",
                "maxLength": MAX_ENV_VALUE_CHARS,
                "pattern": r"^[^\x00]*$",
            },
        },
        description="Extra environment variables; MLOPS_*, MLFLOW_*, AWS_*, PYTHONUNBUFFERED and DO_NOT_TRACK "
        "are the platform's.",
    )
    cpu_limit: float | None = Field(
        default=None, ge=MIN_CPU, le=MAX_CPU, description="CPU cores; default: the runtime's limit."
    )
    memory_limit_mb: Annotated[int, Field(ge=MIN_MEMORY_MB, le=MAX_MEMORY_MB), JSON_INT] | None = Field(
        default=None, description="Memory in MiB; default: the runtime's."
    )

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        match = _IMAGE_RE.fullmatch(value)
        if not match or len(match.group("name")) > MAX_IMAGE_NAME_CHARS:
            raise ValueError(
                f"{excerpt(value)} is not an image reference ([registry[:port]/]name[:tag][@sha256:…], "
                "lowercase name)"
            )
        return value

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str]) -> list[str]:
        if not value[0].strip():
            raise ValueError("the first argument (the program) must not be empty")
        for i, arg in enumerate(value):
            if len(arg) > MAX_ARG_CHARS:
                raise ValueError(f"argument {i} has {len(arg)} characters; at most {MAX_ARG_CHARS}")
            if "\0" in arg:
                raise ValueError(f"argument {i} contains a NUL character")
        total = sum(len(arg) for arg in value)
        if total > MAX_COMMAND_CHARS:
            raise ValueError(f"the command has {total} characters in all; at most {MAX_COMMAND_CHARS}")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        total = 0
        for name, text in value.items():
            if len(name) > MAX_ENV_NAME_CHARS or not _ENV_NAME_RE.fullmatch(name):
                raise ValueError(
                    f"variable name {excerpt(name)} is invalid: letters, digits and '_', not starting with a "
                    f"digit, at most {MAX_ENV_NAME_CHARS}"
                )
            if is_reserved_env(name):
                raise ValueError(
                    f"variable {name} is the platform's (MLOPS_*, MLFLOW_*, AWS_*, PYTHONUNBUFFERED and "
                    "DO_NOT_TRACK are set by the platform and cannot be overridden)"
                )
            if len(text) > MAX_ENV_VALUE_CHARS:
                raise ValueError(
                    f"the value of {name} has {len(text)} characters; at most {MAX_ENV_VALUE_CHARS}"
                )
            if "\0" in text:
                raise ValueError(f"the value of {name} contains a NUL character")
            total += len(name) + len(text)
        if total > MAX_ENV_CHARS:
            raise ValueError(f"the environment has {total} characters in all; at most {MAX_ENV_CHARS}")
        return value


def spec_problems(exc: ValidationError) -> str:
    """``field: what`` for the first few problems of a pydantic error (never the rejected input itself)."""
    problems = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ())) or "spec"
        what = "unknown field" if error.get("type") == "extra_forbidden" else str(error.get("msg", "invalid"))
        problems.append(f"{where}: {what.removeprefix('Value error, ')}")
    more = exc.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


class CreateCustomJob(CustomSpec):
    name: str = Field(min_length=1, max_length=200, description="Job name, unique in the team.")
    release_id: Id = Field(description="A published release; the job's scenario is its dataset's.")
    description: str = Field(default="", max_length=4000)
    team_id: Id | None = Field(default=None, description="Default: your first team.")
    model: Id | Name | None = Field(default=None, description=MODEL_HELP)
    auto_promote: bool = Field(default=False, description=AUTO_PROMOTE_HELP)


class CustomJobOut(Row):
    """A custom job's row (the generic job endpoints show it too; these fields are the custom kind's)."""

    id: int
    team_id: int
    kind: str
    scenario: str
    name: str
    description: str
    release_id: int
    status: str
    image: str | None
    command: list[str] | None
    env: dict[str, str] | None
    cpu_limit: float | None
    memory_limit_mb: int | None
    model_id: int | None
    model_name: str | None
    auto_promote: bool
    mlflow_experiment_id: str | None
    mlflow_run_id: str | None
    flow_run_id: str | None
    container_name: str | None
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None
    created_by: int | None
    created_at: datetime
    updated_at: datetime


def env_pairs(pairs: Mapping[str, str] | list[str] | None) -> dict[str, str]:
    """``{"K": "V"}`` from a mapping or from ``["K=V", ...]`` (the CLI's ``--env K=V``)."""
    if pairs is None:
        return {}
    if isinstance(pairs, Mapping):
        return dict(pairs)
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"environment variable {excerpt(pair)} must be NAME=VALUE")
        out[name] = value
    return out
