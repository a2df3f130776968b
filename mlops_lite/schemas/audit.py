"""The audit log: who did what to which resource, in which team, when, and how it ended."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator

from mlops_lite.schemas.common import Row

Outcome = Literal["ok", "denied", "error"]
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339(value: object) -> object:
    """Only what the document's ``date-time`` format is (RFC 3339: a date, a time and a zone); pydantic alone
    would also take a number of seconds or a date without a time."""
    if isinstance(value, str) and not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time with a zone, e.g. 2026-01-31T12:00:00Z")
    return value


Timestamp = Annotated[datetime, BeforeValidator(_rfc3339)]


class AuditEventOut(Row):
    id: int
    at: datetime
    actor_id: int | None
    actor_name: str
    team_id: int | None
    action: str
    resource_type: str
    resource_id: str | None
    outcome: str
    detail: dict[str, Any]
