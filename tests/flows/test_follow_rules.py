"""What the follow decides for a serving (``flows.follow_rules.decide``, pure: no server, no catalog)."""

from __future__ import annotations

import pytest

from flows.follow_rules import Action, decide


@pytest.mark.parametrize(
    ("desired", "observed", "stale", "ref", "target", "served", "action"),
    [
        ("running", "running", False, "champion", 2, "1", Action.ROLL_FORWARD),  # promoted: forwards
        ("running", "running", False, "champion", 1, "2", Action.ROLL_FORWARD),  # rolled back: backwards
        ("running", "running", False, "challenger", "3", "2", Action.ROLL_FORWARD),
        ("running", "running", False, "champion", 2, None, Action.ROLL_FORWARD),  # version never recorded
        ("running", "running", False, "champion", 2, "2", Action.SKIP),  # serves it already
        ("running", "running", False, "latest", 2, "1", Action.SKIP),  # follows no alias
        ("running", "running", False, "1", 2, "1", Action.SKIP),  # pinned
        ("stopped", "running", False, "champion", 2, "1", Action.SKIP),  # being stopped
        ("stopped", "not_found", False, "champion", 2, "1", Action.SKIP),  # its next start resolves the alias
        (
            "running",
            "running",
            False,
            "champion",
            None,
            "1",
            Action.SKIP,
        ),  # alias cleared: keeps what it serves
        ("running", "running", True, "champion", 2, "1", Action.SKIP),  # runtime not reached: next sync
        ("running", "pending", False, "champion", 2, "1", Action.SKIP),  # a start under way: next sync
        ("running", "unknown", False, "champion", 2, "1", Action.SKIP),
        ("running", "failed", False, "champion", 2, "1", Action.RESTART),  # its container ended
        ("running", "exited", False, "champion", 2, "1", Action.RESTART),
        ("running", "not_found", False, "champion", 2, "2", Action.RESTART),
    ],
)
def test_what_the_follow_does(
    desired: str,
    observed: str,
    stale: bool,
    ref: str,
    target: int | str | None,
    served: str | None,
    action: Action,
) -> None:
    decision = decide(desired=desired, observed=observed, stale=stale, ref=ref, target=target, served=served)
    assert decision.action == action, decision.reason
    assert decision.reason


def test_the_reason_names_the_versions() -> None:
    decision = decide(
        desired="running", observed="running", stale=False, ref="champion", target=2, served="1"
    )
    assert decision.reason == "serves version 1, champion is version 2"
