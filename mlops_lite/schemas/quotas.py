"""Quotas per team: a team's usage against the limits that apply to it, and the body that sets its own limits
(administrators). Also the sizes people type and read: ``parse_bytes`` ("10GB", "512MiB") and ``format_bytes``,
shared by the CLI and the catalog's refusal messages.

A quota set on a team applies to its whole subtree (the team and every team below it, summed), and every
ancestor's quota applies too (``catalog.services.quotas``).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

from mlops_lite.schemas.common import JSON_INT, Body, Row

# The five quotas, in the order they are checked and shown.
QUOTAS: tuple[str, ...] = ("trainings", "servings", "stored_bytes", "cpus", "memory_mb")
QUOTA_DESCRIPTIONS: dict[str, str] = {
    "trainings": "concurrent trainings (jobs starting or running)",
    "servings": "running servings (desired state running)",
    "stored_bytes": "bytes stored: dataset entries, release zips and trained models",
    "cpus": "CPUs of running containers (trainings and servings)",
    "memory_mb": "memory of running containers, MiB",
}

# Decimal units as SI (and Kubernetes) write them; the "i" ones binary.
_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "ki": 2**10,
    "kib": 2**10,
    "mi": 2**20,
    "mib": 2**20,
    "gi": 2**30,
    "gib": 2**30,
    "ti": 2**40,
    "tib": 2**40,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
MAX_STORED_BYTES = 10**18  # an exabyte: beyond any store, within the database's 64-bit column


def parse_bytes(text: str, *, bare_unit: int = 1) -> int:
    """``"10GB"`` → 10,000,000,000; ``"512MiB"`` → 536,870,912. A bare number counts ``bare_unit`` bytes each.
    Raises ValueError naming the units understood."""
    match = _SIZE.match(text or "")
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise ValueError(
            f"{str(text)[:40]!r} is not a size: a number with an optional unit, B, kB, MB, GB, TB (powers of "
            "1000) or KiB, MiB, GiB, TiB (powers of 1024)"
        )
    return int(float(match.group(1)) * (_UNITS[unit] if unit else bare_unit))


def parse_memory_mb(text: str) -> int:
    """Memory in MiB: ``"8GiB"`` → 8192, ``"8GB"`` → 7629 (whole MiB, rounded down); a bare number is MiB."""
    size = parse_bytes(text, bare_unit=2**20)
    if 0 < size < 2**20:
        raise ValueError(f"{str(text)[:40]!r} is less than 1 MiB")
    return size // 2**20


def format_bytes(size: float) -> str:
    """``1_500_000_000`` → ``"1.5 GB"`` (powers of 1000, three significant digits)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(value) < 1000 or unit == "PB":
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.3g} {unit}" if abs(value) < 1000 else f"{value:.0f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


Count = Annotated[int, Field(ge=0, le=1_000_000), JSON_INT]
Bytes = Annotated[int, Field(ge=0, le=MAX_STORED_BYTES), JSON_INT]
Cpus = Annotated[float, Field(ge=0, le=100_000, allow_inf_nan=False)]
MemoryMb = Annotated[int, Field(ge=0, le=2**31 - 1), JSON_INT]


class SetQuota(Body):
    """The team's own limits. A field left out keeps its value; ``null`` removes the limit; 0 allows nothing."""

    trainings: Count | None = Field(default=None, description=QUOTA_DESCRIPTIONS["trainings"])
    servings: Count | None = Field(default=None, description=QUOTA_DESCRIPTIONS["servings"])
    stored_bytes: Bytes | None = Field(default=None, description=QUOTA_DESCRIPTIONS["stored_bytes"])
    cpus: Cpus | None = Field(default=None, description=QUOTA_DESCRIPTIONS["cpus"])
    memory_mb: MemoryMb | None = Field(default=None, description=QUOTA_DESCRIPTIONS["memory_mb"])


class UsageOut(Row):
    """What a team's subtree uses now."""

    trainings: int
    servings: int
    stored_bytes: int
    cpus: float
    memory_mb: int


class LimitsOut(Row):
    """Limits set on one team (null: none)."""

    trainings: int | None = None
    servings: int | None = None
    stored_bytes: int | None = None
    cpus: float | None = None
    memory_mb: int | None = None


class LimitView(Row):
    """One quota that applies to the team: set on it or on an ancestor, with the use of that team's subtree."""

    quota: str = Field(description="trainings, servings, stored_bytes, cpus or memory_mb")
    limit: int | float
    used: int | float = Field(description="Over the subtree of the team the quota is set on.")
    set_on: str = Field(description="The team the quota is set on (this team or an ancestor).")
    set_on_id: int


class TeamUsageOut(Row):
    team_id: int
    team_name: str
    usage: UsageOut = Field(description="The team's own subtree.")
    limits: LimitsOut = Field(description="The limits set on this team itself.")
    effective: list[LimitView] = Field(
        description="Every quota that applies: the team's own and its ancestors'."
    )
