"""Building blocks of every schema: bodies refuse unknown fields, rows read from attributes, pages, errors."""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

T = TypeVar("T")


def _json_integer(value: object) -> object:
    """JSON Schema's integer: 95.0 is one (a number with no fraction), ``true`` is not (strict bodies would
    refuse the first and Python's bool is an int)."""
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")  # noqa: TRY004 - pydantic reports ValueErrors
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Every integer of a request body takes JSON_INT (bodies are strict: see Body), AFTER its constraints:
# ``Annotated[int, Field(ge=0, le=9), JSON_INT]`` (placed before them, pydantic leaves the constraints out of
# the JSON schema).
JSON_INT = BeforeValidator(_json_integer)
Int = Annotated[int, JSON_INT]
# Ids are database integers: bounded so that a huge number is a clear 422, not a database overflow.
Id = Annotated[int, Field(ge=1, le=2**31 - 1), JSON_INT]

# What a name may be. The catalog's services check the same patterns (catalog.services.common, .teams,
# .releases import them from here), so the API's schema refuses exactly what the services would.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,199}$"
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$"
TEAM_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$"
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,49}$"
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=NAME_PATTERN)]
ShortName = Annotated[str, Field(min_length=1, max_length=100, pattern=NAME_PATTERN)]
Username = Annotated[str, Field(min_length=1, max_length=100, pattern=USERNAME_PATTERN)]
TeamName = Annotated[str, Field(min_length=1, max_length=100, pattern=TEAM_NAME_PATTERN)]
Version = Annotated[str, Field(min_length=1, max_length=50, pattern=VERSION_PATTERN)]
# A role's name: built-in (viewer, member, maintainer, admin) or custom (catalog.services.roles).
ROLE_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,49}$"
RoleName = Annotated[str, Field(min_length=1, max_length=50, pattern=ROLE_NAME_PATTERN)]
# The permissions a role may grant on teams (catalog.permissions.PERMISSIONS says what each allows;
# tests/api/test_schemas.py checks that both agree), each kind's ``<kind>:*``, and ``admin:*`` (the platform
# administrator's, which no role grants but a token may be narrowed to).
_TEAM_PERMISSIONS = (
    "datasets:read",
    "datasets:write",
    "releases:publish",
    "jobs:read",
    "jobs:write",
    "jobs:start",
    "servings:read",
    "servings:manage",
    "servings:predict",
    "models:read",
    "models:promote",
    "models:manage",
    "audit:read",
    "members:manage",
    "teams:manage",
)
TEAM_PERMISSIONS = (*_TEAM_PERMISSIONS, *dict.fromkeys(f"{p.split(':')[0]}:*" for p in _TEAM_PERMISSIONS))
ADMIN_PERMISSION = "admin:*"
TeamPermission = Literal[TEAM_PERMISSIONS]  # type: ignore[valid-type]
Permission = Literal[(*TEAM_PERMISSIONS, ADMIN_PERMISSION)]  # type: ignore[valid-type]
# A role's permissions, or those a token is narrowed to.
RolePermissions = Annotated[list[TeamPermission], Field(min_length=1, max_length=50)]
Permissions = Annotated[list[Permission], Field(min_length=1, max_length=50)]
# The shortest password an account may have (catalog.services.teams checks it too).
MIN_PASSWORD_LENGTH = 8
Password = Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=1000)]

# The six scenarios (catalog.scenarios.Scenario; tests/api/test_schemas.py checks that both agree).
ScenarioName = Literal[
    "anomaly_detection",
    "timeseries_predict",
    "log_clustering",
    "text_classification",
    "image_classification",
    "object_detection",
]


class Body(BaseModel):
    """Base of every request body: an unknown field is an error (a typo must not be silently ignored), and
    values are taken as their JSON types say (strict: ``true`` is not a number, ``"5"`` is not an id)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Row(BaseModel):
    """Base of every response model; the server builds it from a catalog row, the client from JSON. Fields
    the client does not know yet (a newer server) are ignored."""

    model_config = ConfigDict(from_attributes=True, extra="ignore")


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items`` from ``offset``, ``total`` rows match."""

    items: list[T]
    total: int
    offset: int
    limit: int


class ErrorDetail(BaseModel):
    code: str = Field(
        description="Stable code: not_found, unauthenticated, permission_denied, conflict, "
        "validation_error, payload_too_large, unsupported_media_type, unavailable, ..."
    )
    message: str
    status: int


class ErrorBody(BaseModel):
    error: ErrorDetail


class Message(BaseModel):
    message: str
