"""The quota decisions, without a database: the first quota a request would exceed along the chain from the team
up to the root (with words naming the quota, the team it is set on, the limit and the use), the quotas that apply
to a team, and the CPU/memory a container asks for."""

from __future__ import annotations

from dataclasses import fields

import pytest

from catalog.quota_policy import (
    QUOTAS,
    Limits,
    Request,
    Resources,
    Usage,
    container_resources,
    effective,
    refusal,
    relevant,
    start_request,
)


def test_the_dataclasses_hold_the_quotas_of_the_schemas() -> None:
    for kind in (Usage, Limits, Request):
        assert tuple(f.name for f in fields(kind)) == QUOTAS


def test_a_request_within_every_limit_passes() -> None:
    chain = [
        ("ml", Limits(trainings=2, cpus=4), Usage(trainings=1, cpus=2.5)),
        ("org", Limits(trainings=5), Usage(trainings=3)),
    ]
    assert refusal(chain, Request(trainings=1, cpus=1.5)) is None
    assert refusal([], Request(trainings=1)) is None
    # Float sums must not refuse what exactly fits (0.1 + 0.2 > 0.3 in binary floating point).
    assert refusal([("ml", Limits(cpus=0.3), Usage(cpus=0.1))], Request(cpus=0.2)) is None


def test_the_first_quota_exceeded_is_named_with_its_team_limit_and_use() -> None:
    chain = [
        ("ml", Limits(trainings=2), Usage(trainings=2, stored_bytes=10)),
        ("org", Limits(trainings=1), Usage(trainings=7)),
    ]
    # The team's own quota comes first, then the ancestors' up to the root.
    assert refusal(chain, Request(trainings=1)) == (
        "quota exceeded: team 'ml' allows 2 concurrent trainings (its subtree runs 2)"
    )
    inherited = [("ml", Limits(), Usage(trainings=0)), ("org", Limits(trainings=1), Usage(trainings=1))]
    assert refusal(inherited, Request(trainings=1)) == (
        "quota exceeded: team 'org' allows 1 concurrent training (its subtree runs 1)"
    )


@pytest.mark.parametrize(
    ("limits", "usage", "request_", "words"),
    [
        (
            Limits(servings=3),
            Usage(servings=3),
            Request(servings=1),
            "quota exceeded: team 'ml' allows 3 running servings (its subtree runs 3)",
        ),
        (
            Limits(stored_bytes=10**9),
            Usage(stored_bytes=950_000_000),
            Request(stored_bytes=60_000_000),
            "quota exceeded: team 'ml' allows 1 GB stored (its subtree stores 950 MB; this needs 60 MB more)",
        ),
        (
            Limits(cpus=4),
            Usage(cpus=3.5),
            Request(trainings=1, cpus=1),
            (
                "quota exceeded: team 'ml' allows 4 CPUs for running containers (its subtree holds 3.5; "
                "this needs 1 more)"
            ),
        ),
        (
            Limits(memory_mb=8192),
            Usage(memory_mb=6144),
            Request(servings=1, memory_mb=4096),
            (
                "quota exceeded: team 'ml' allows 8192 MiB of memory for running containers (its subtree holds "
                "6144 MiB; this needs 4096 MiB more)"
            ),
        ),
        (
            Limits(trainings=0),
            Usage(),
            Request(trainings=1),
            "quota exceeded: team 'ml' allows 0 concurrent trainings (its subtree runs 0)",
        ),
    ],
)
def test_each_quota_says_what_it_bounds(limits: Limits, usage: Usage, request_: Request, words: str) -> None:
    assert refusal([("ml", limits, usage)], request_) == words


def test_only_what_a_request_adds_is_checked() -> None:
    over = [("ml", Limits(trainings=0, stored_bytes=0), Usage(trainings=5, stored_bytes=10**12))]
    # A serving adds nothing to trainings or stored bytes, however far over those the team is.
    assert refusal(over, Request(servings=1, cpus=1)) is None
    assert relevant(Limits(trainings=1), Request(trainings=1))
    assert not relevant(Limits(trainings=1), Request(servings=1, cpus=2))
    assert not relevant(Limits(), Request(trainings=1, stored_bytes=5))


def test_effective_lists_every_quota_set_along_the_chain() -> None:
    views = effective(
        [
            (7, "ml", Limits(trainings=2, memory_mb=512), Usage(trainings=1, memory_mb=256)),
            (1, "org", Limits(trainings=10), Usage(trainings=4)),
            (0, "root", Limits(), Usage(trainings=9)),
        ]
    )
    assert [(v.quota, v.limit, v.used, v.set_on, v.set_on_id) for v in views] == [
        ("trainings", 2, 1, "ml", 7),
        ("memory_mb", 512, 256, "ml", 7),
        ("trainings", 10, 4, "org", 1),
    ]


def test_a_container_asks_for_its_own_limit_else_the_runtimes_else_the_quota_default() -> None:
    base = {
        "runtime_cpus": None,
        "runtime_memory_mb": None,
        "cpu_quota": False,
        "memory_quota": False,
        "default_cpus": 1.0,
        "default_memory_mb": 2048,
    }
    assert container_resources(cpus=2, memory_mb=512, **base | {"cpu_quota": True}) == Resources(2, 512)
    assert container_resources(
        cpus=None, memory_mb=None, **base | {"runtime_cpus": 3.0, "runtime_memory_mb": 4096}
    ) == Resources(3.0, 4096)
    # No limit anywhere and no quota: the container asks for nothing (unlimited), and holds nothing.
    assert container_resources(cpus=None, memory_mb=None, **base) == Resources(None, None)
    # A quota applies: a container never asks for nothing, it gets the quota default.
    assert container_resources(
        cpus=None, memory_mb=None, **base | {"cpu_quota": True, "memory_quota": True}
    ) == Resources(1.0, 2048)
    assert container_resources(
        cpus=None, memory_mb=None, **base | {"memory_quota": True, "runtime_cpus": 0.5}
    ) == Resources(0.5, 2048)


def test_a_start_adds_one_and_its_resources() -> None:
    assert start_request("trainings", Resources(1.5, 256)) == Request(trainings=1, cpus=1.5, memory_mb=256)
    assert start_request("servings", Resources(None, None)) == Request(servings=1)
