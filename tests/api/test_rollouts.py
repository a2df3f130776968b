"""Gray releases over HTTP, bad input: a weight outside 0-100, a canary of another team's model (404, as a missing
one) or of another scenario's, a roll-out on a stopped serving, steps that do not end at 100 — each a clear error in
the one error shape, and nothing changed (the serving's traffic, the roll-outs). The SDK refuses what the server
would before sending. The live paths are tests/flows/test_rollout_e2e.py."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mlops_lite.client.errors import InvalidRequest
from tests.flows.follow_support import Registered, seed_model

pytestmark = pytest.mark.platform_servers("s3")


TOKEN: dict[str, str] = {}  # the team admin's token, set by the test


def put(api_server: Any, path: str, body: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {TOKEN['admin']}"}
    return httpx.put(f"{api_server.url}/api/v1{path}", json=body, headers=headers, timeout=60)


def post(api_server: Any, path: str, body: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {TOKEN['admin']}"}
    return httpx.post(f"{api_server.url}/api/v1{path}", json=body, headers=headers, timeout=60)


def test_bad_gray_release_requests_change_nothing(platform_env: Any, api_server: Any) -> None:
    from catalog.db import session_scope
    from catalog.scoping import SYSTEM
    from catalog.services import models, team_tree, teams
    from mlops_lite.client import Client

    # Catalog rows only: nothing here loads a model.
    seeded = seed_model(Registered("bad-input-model", {1: "a" * 32, 2: "b" * 32}))
    with session_scope() as s:
        other_team = team_tree.create_team(s, actor=SYSTEM, name="elsewhere")
        foreign = models.create_model(
            s, actor=SYSTEM, team_id=other_team.id, name="theirs", scenario="anomaly_detection"
        ).id  # type: ignore[arg-type]
        forecasts = models.create_model(
            s, actor=SYSTEM, team_id=seeded.team_id, name="fc", scenario="timeseries_predict"
        ).id
        gina = teams.create_user(s, actor=SYSTEM, username="gina", password="gina-pass-123")
        teams.add_member(s, actor=SYSTEM, team_id=seeded.team_id, user_id=gina.id, role="admin")  # type: ignore[arg-type]
    # A team admin (not the operator, who sees every team): another team's model is as missing to her.
    api, issued = Client.login(api_server.url, "gina", "gina-pass-123")
    TOKEN["admin"] = issued.token
    with api:
        sid = api.servings.create(
            "gray", model_id=seeded.model_id, model_version="champion", start=False
        ).serving.id
        refusals = [
            (put(api_server, f"/servings/{sid}/traffic", {"canary": "2", "weight": 101}), 422, "weight"),
            (put(api_server, f"/servings/{sid}/traffic", {"canary": "2", "weight": -5}), 422, "weight"),
            (put(api_server, f"/servings/{sid}/traffic", {"weight": 10}), 422, "a weight needs a canary"),
            (
                put(api_server, f"/servings/{sid}/traffic", {"canary": "2", "model_id": foreign}),
                404,
                f"model {foreign} not found",
            ),
            (
                put(api_server, f"/servings/{sid}/traffic", {"canary": "2", "model_id": forecasts}),
                422,
                "is timeseries_predict",
            ),
            (
                put(api_server, f"/servings/{sid}/traffic", {"routing_header": "X-Evil\r\n"}),
                422,
                "routing_header",
            ),
            (
                post(api_server, f"/servings/{sid}/rollouts", {"canary": "2"}),
                409,
                "a roll-out needs it running",
            ),
            (post(api_server, f"/servings/{sid}/rollouts", {"canary": "2", "steps": [10, 500]}), 422, "100"),
            (
                post(api_server, f"/servings/{sid}/rollouts", {"canary": "2", "thresholds": {"nope": 1}}),
                422,
                "nope",
            ),
            (post(api_server, "/rollouts/999999/actions", {"action": "abort"}), 404, "not found"),
            (post(api_server, "/rollouts/1/actions", {"action": "explode"}), 422, "action"),
        ]
        for response, status, words in refusals:
            assert response.status_code == status, (words, response.status_code, response.text)
            error = response.json()["error"]
            assert words in error["message"] or words in str(error.get("details")), (words, error)
            assert len(response.text) < 2000
        after = api.servings.get(sid)
        assert (after.canary_version, after.canary_weight, after.routing_header) == (None, 0, None)
        assert api.rollouts.page(sid).total == 0
        with pytest.raises(InvalidRequest, match="weight"):
            api.rollouts.traffic(sid, canary="2", weight=150)
        with pytest.raises(InvalidRequest, match="greater than or equal to 1"):
            api.rollouts.start(sid, "2", steps=[0, 20])
        # A good change on a stopped serving is kept for its next start; nothing is launched.
        changed = api.rollouts.traffic(sid, canary="2", weight=25, routing_header="x-user-id")
        assert changed.launch is None
        assert (changed.serving.canary_version, changed.serving.canary_weight) == (2, 25)
