"""`mlops servings canary|shadow|rollout|rollouts|pause|resume|abort` through a live API server (the SDK's
``client.rollouts`` underneath): the traffic set and cleared as JSON, a roll-out listed and shown with its
decisions, and refusals as one clear line with their exit codes. A roll-out run to its end is
tests/flows/test_rollout_e2e.py (the same API calls)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.flows.follow_support import Registered, Seeded, seed_model

pytestmark = pytest.mark.slow


@pytest.fixture
def seeded(platform_env: Any, platform_admin: str) -> Seeded:
    # Catalog rows only (versions 1 and 2 of a model): nothing here loads a model.
    return seed_model(Registered("cli-gray-model", {1: "c" * 32, 2: "d" * 32}))


@pytest.fixture
def mlops(seeded: Seeded, api_server: Any) -> Any:
    from cli.main import app

    runner = CliRunner()

    def run(*args: str, code: int = 0) -> Any:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, f"mlops {' '.join(args)} → {result.exit_code}: {result.output}"
        return json.loads(result.output) if "--json" in args and code == 0 else result

    return run


def test_gray_release_commands(seeded: Seeded, mlops: Any) -> None:
    from catalog.db import session_scope
    from catalog.models import RolloutDecision
    from tests.catalog.isolation_world import add_rollout

    created = mlops(
        "servings", "create", "gray", "--model", str(seeded.model_id), "--version", "champion", "--no-start",
        "--json",
    )  # fmt: skip
    sid = str(created["id"])
    shown = mlops(
        "servings", "canary", sid, "--version", "2", "--weight", "20", "--routing-header", "x-user", "--json"
    )
    assert (shown["canary_version"], shown["canary_weight"], shown["routing_header"]) == (2, 20, "x-user")
    assert "flow_run" not in shown  # a stopped serving: kept for its next start, nothing launched
    assert mlops("servings", "canary", sid, "--weight", "35", "--json")["canary_weight"] == 35

    refused = mlops("servings", "shadow", sid, "--version", "2", code=1)
    assert (
        refused.output.strip().splitlines()[-1]
        == "error: version 2 is the canary already: it cannot shadow itself"
    )
    too_much = mlops("servings", "canary", sid, "--weight", "101", code=2)  # typer's own range check
    assert "less than or equal to 100" in too_much.output
    off = mlops("servings", "canary", sid, "--off", "--json")
    assert (off["canary_version"], off["canary_weight"]) == (None, 0)
    assert mlops("servings", "shadow", sid, "--version", "2", "--json")["shadow_version"] == 2
    assert mlops("servings", "shadow", sid, "--off", "--json")["shadow_version"] is None

    stopped = mlops("servings", "rollout", sid, "--version", "2", "--steps", "10,100", code=3)
    assert "a roll-out needs it running" in stopped.output
    bad_steps = mlops("servings", "rollout", sid, "--version", "2", "--steps", "10,150", code=1)
    assert "less than or equal to 100" in bad_steps.output
    assert mlops("servings", "rollouts", sid, "--json") == []
    nothing = mlops("servings", "abort", sid, code=3)
    assert nothing.output.strip() == f"error: serving {sid} has no roll-out under way"

    # A roll-out the flow ended (rows as it leaves them): listed, and shown with its decisions.
    with session_scope() as session:
        rid = add_rollout(session, int(sid), status="rolled_back")
        session.add(
            RolloutDecision(
                rollout_id=rid, step=0, weight=10, action="rollback", reason="error rate 20.0% > 2.0%"
            )
        )
    listed = mlops("servings", "rollouts", sid, "--json")
    assert [(r["id"], r["status"]) for r in listed] == [(rid, "rolled_back")]
    one = mlops("servings", "rollouts", sid, "--id", str(rid), "--json")
    assert [(d["action"], d["reason"]) for d in one["decisions"]] == [("rollback", "error rate 20.0% > 2.0%")]
    text = mlops("servings", "rollouts", sid, "--id", str(rid)).output
    assert "rollback" in text and "error rate 20.0% > 2.0%" in text
