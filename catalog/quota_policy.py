"""Quotas per team, the decisions only (no database): what a subtree uses, the limits set on a team, what an
action would add, the first quota it would exceed (the refusal's words), the quotas that apply to a team, and
the CPU/memory a container asks for. ``catalog.services.quotas`` gathers the numbers and applies them.

A quota set on a team bounds the sum over its whole subtree; a team is bound by its own quotas and by every
ancestor's. ``refusal`` therefore takes the chain from the team up to the root, each with its limits and the
use of its own subtree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mlops_lite.schemas.quotas import QUOTA_DESCRIPTIONS, QUOTAS, format_bytes

__all__ = ["QUOTAS", "QUOTA_DESCRIPTIONS", "format_bytes"]  # re-exported for the dashboard (no SDK imports)

# Float sums of CPUs (0.1 + 0.2) must not refuse what exactly fits.
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Usage:
    """What a team's subtree holds now: trainings starting or running, servings meant to run, bytes stored
    (dataset entries, release zips, models), and the CPUs and memory (MiB) its running containers claimed."""

    trainings: int = 0
    servings: int = 0
    stored_bytes: int = 0
    cpus: float = 0.0
    memory_mb: int = 0


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits set on one team; None: no limit."""

    trainings: int | None = None
    servings: int | None = None
    stored_bytes: int | None = None
    cpus: float | None = None
    memory_mb: int | None = None

    def set(self) -> list[str]:
        """The quotas this team sets, in ``QUOTAS`` order."""
        return [q for q in QUOTAS if getattr(self, q) is not None]


@dataclass(frozen=True, slots=True)
class Request:
    """What an action would add: a start (one training or serving, with its container's CPUs and memory), or
    bytes to store."""

    trainings: int = 0
    servings: int = 0
    stored_bytes: int = 0
    cpus: float = 0.0
    memory_mb: int = 0

    def asks(self) -> list[str]:
        return [q for q in QUOTAS if getattr(self, q) > 0]


# One link of a chain: (the team's name, the limits set on it, the use of its subtree).
Link = tuple[str, Limits, Usage]


def relevant(limits: Limits, request: Request) -> bool:
    """Whether any limit of ``limits`` bounds something ``request`` adds."""
    return any(getattr(limits, q) is not None for q in request.asks())


def refusal(chain: Sequence[Link], request: Request) -> str | None:
    """The first quota ``request`` would exceed, from the team itself up to the root (each team's quotas in
    ``QUOTAS`` order), as a message naming the quota, the team it is set on, the limit and the current use;
    None when it fits everywhere."""
    for team, limits, usage in chain:
        for quota in request.asks():
            limit = getattr(limits, quota)
            if limit is None:
                continue
            used, adding = getattr(usage, quota), getattr(request, quota)
            if used + adding > limit + _EPSILON:
                return describe(quota, team, limit, used, adding)
    return None


def _amount(quota: str, value: float) -> str:
    if quota == "stored_bytes":
        return format_bytes(value)
    if quota == "memory_mb":
        return f"{int(value)} MiB"
    if quota == "cpus":
        return f"{value:g}"
    return str(int(value))


def describe(quota: str, team: str, limit: float, used: float, adding: float) -> str:
    """The refusal's words for ``quota`` set on ``team``."""
    head = f"quota exceeded: team {team!r} allows"
    if quota == "trainings":
        return f"{head} {int(limit)} concurrent training{'' if limit == 1 else 's'} (its subtree runs {int(used)})"
    if quota == "servings":
        return (
            f"{head} {int(limit)} running serving{'' if limit == 1 else 's'} (its subtree runs {int(used)})"
        )
    needs = f"this needs {_amount(quota, adding)} more"
    if quota == "stored_bytes":
        return f"{head} {format_bytes(limit)} stored (its subtree stores {format_bytes(used)}; {needs})"
    if quota == "cpus":
        return f"{head} {limit:g} CPUs for running containers (its subtree holds {used:g}; {needs})"
    return (
        f"{head} {_amount(quota, limit)} of memory for running containers "
        f"(its subtree holds {_amount(quota, used)}; {needs})"
    )


@dataclass(frozen=True, slots=True)
class LimitView:
    """One quota that applies to a team: its limit, the use of the subtree it bounds, where it is set."""

    quota: str
    limit: float
    used: float
    set_on: str
    set_on_id: int


@dataclass(frozen=True, slots=True)
class TeamUsage:
    """A team's usage (its subtree), its own limits, and every quota that applies to it (own and ancestors')."""

    team_id: int
    team_name: str
    usage: Usage
    limits: Limits
    effective: list[LimitView] = field(default_factory=list)


def effective(chain: Sequence[tuple[int, str, Limits, Usage]]) -> list[LimitView]:
    """Every quota set along the chain (the team first, then its ancestors up to the root)."""
    return [
        LimitView(quota=q, limit=getattr(limits, q), used=getattr(usage, q), set_on=name, set_on_id=team_id)
        for team_id, name, limits, usage in chain
        for q in limits.set()
    ]


@dataclass(frozen=True, slots=True)
class Resources:
    """What a container asks for and holds against the CPU/memory quotas; None: no limit."""

    cpus: float | None
    memory_mb: int | None


def container_resources(
    *,
    cpus: float | None,
    memory_mb: int | None,
    runtime_cpus: float | None,
    runtime_memory_mb: int | None,
    cpu_quota: bool,
    memory_quota: bool,
    default_cpus: float,
    default_memory_mb: int,
) -> Resources:
    """A container's CPUs and memory: the job's or serving's own limit, else the runtime's default limit, else —
    only when a CPU (memory) quota applies to its team — the quota default, so that a quota never meets a
    container that asks for nothing (and could take the whole host)."""
    chosen_cpus = cpus if cpus is not None else runtime_cpus
    if chosen_cpus is None and cpu_quota:
        chosen_cpus = default_cpus
    chosen_memory = memory_mb if memory_mb is not None else runtime_memory_mb
    if chosen_memory is None and memory_quota:
        chosen_memory = default_memory_mb
    return Resources(cpus=chosen_cpus, memory_mb=chosen_memory)


def start_request(kind: str, resources: Resources) -> Request:
    """What starting one training (``kind="trainings"``) or serving (``"servings"``) adds."""
    return Request(
        **{kind: 1},
        cpus=resources.cpus or 0.0,
        memory_mb=resources.memory_mb or 0,
    )
