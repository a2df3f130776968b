"""Monitoring records: where the platform's collection of each serving's prediction log stands."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from catalog.models.base import updated_at_field


class PredictionLogCursor(SQLModel, table=True):
    """The last record collected from a serving's server (``tasks.prediction_logs``): the server instance and
    its sequence number. A restarted server is a new instance whose numbers start again."""

    __tablename__ = "prediction_log_cursor"

    serving_id: int = Field(foreign_key="serving.id", primary_key=True)
    instance: str = Field(default="", max_length=200)
    # 64-bit: a busy serving passes 2**31 records within days.
    after: int = Field(default=0, ge=0, sa_type=BigInteger)
    collected: int = Field(
        default=0, ge=0, sa_type=BigInteger, description="Records written to the object store, every instance"
    )
    batches: int = Field(default=0, ge=0, sa_type=BigInteger)
    error: str = Field(
        default="", max_length=1000, description="Why the last collection failed; '' when it did not"
    )
    updated_at: datetime = updated_at_field()
