"""Building blocks of every schema: bodies refuse unknown fields, rows read from attributes, pages, errors."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

# Ids are database integers: bounded so that a huge number is a clear 422, not a database overflow.
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]


class Body(BaseModel):
    """Base of every request body: an unknown field is an error (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid")


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
