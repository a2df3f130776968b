"""Column helpers shared by every table: UTC timestamps and JSON columns that work on SQLite and PostgreSQL.

Every datetime column is a ``UtcDateTime``: whatever the database, a value is stored as UTC and read back as an
aware UTC ``datetime``, so no caller converts or patches time zones.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that only takes aware datetimes and always returns aware UTC ones.

    SQLite has no time zone type: SQLAlchemy stores the wall-clock digits and drops the offset, so a value is
    converted to UTC before it is written (its digits are then UTC) and marked UTC when read. PostgreSQL's
    ``timestamptz`` keeps the instant but answers in the connection's time zone: read values are converted to
    UTC. A naive value is refused: it could be local time, and stored as UTC it would silently be off. The
    database type is unchanged (``DateTime(timezone=True)``), so the migrations need nothing.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"timestamps must be timezone-aware datetimes, got {value!r}")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # Naive only from SQLite, whose stored digits are UTC (see process_bind_param).
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def datetime_column(*, nullable: bool, **kwargs: Any) -> Column[datetime]:
    return Column(UtcDateTime(), nullable=nullable, **kwargs)


def created_at_field() -> Any:
    return Field(default_factory=utcnow, sa_column=datetime_column(nullable=False))


def updated_at_field() -> Any:
    return Field(default_factory=utcnow, sa_column=datetime_column(nullable=False, onupdate=utcnow))


def optional_datetime_field() -> Any:
    return Field(default=None, sa_column=datetime_column(nullable=True))


def json_field(*, default_factory: Any = dict) -> Any:
    return Field(default_factory=default_factory, sa_column=Column(JSON, nullable=False))
