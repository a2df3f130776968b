"""Applying a serving's traffic (its canary and weight, its shadow, its routing header: ``catalog.services.traffic``)
to its running inference server, and reading back what the server runs.

The server is told the whole traffic at once (``POST /admin/traffic`` with the platform's control token,
``algorithms.serve.control``): it loads the versions it lacks beside the ones answering, then applies the traffic
in one assignment; a new weight alone applies at once. This task asks, then follows ``/health`` until the server
runs exactly that traffic (or says why it could not). Applying is idempotent: nothing is sent to a server that runs
it already, so the scheduled sync calls it for every running serving (a restarted server starts with its stable
version only, and gets its traffic back this way).
"""

from __future__ import annotations

import time
from typing import Any

from catalog.db import session_scope
from catalog.models import Model, Serving
from catalog.services.traffic import DesiredTraffic, desired_traffic
from tasks.serving import READY_TIMEOUT_SECONDS, server_health
from tasks.serving_rollout import tell_server

POLL_SECONDS = 0.2


class TrafficError(RuntimeError):
    """The server did not end up running the traffic (its load error, a refusal, or no answer in time)."""


def _ref(model: Model, version: int) -> dict[str, str]:
    return {"model_uri": f"models:/{model.mlflow_name}/{version}", "version": str(version)}


def traffic_body(model: Model, wanted: DesiredTraffic) -> dict[str, Any]:
    """The body of ``POST /admin/traffic`` for ``wanted`` (versions of ``model``)."""
    assert wanted.stable is not None
    body: dict[str, Any] = {
        "stable": _ref(model, wanted.stable),
        "weight": wanted.weight,
        "routing_header": wanted.routing_header,
    }
    if wanted.canary is not None:
        body["canary"] = _ref(model, wanted.canary)
    if wanted.shadow is not None:
        body["shadow"] = _ref(model, wanted.shadow)
    return body


def described(wanted: DesiredTraffic) -> dict[str, Any]:
    """``wanted`` as the server's /health describes its traffic (``algorithms.serve.traffic.Target.describe``)."""
    return {
        "stable": str(wanted.stable),
        "canary": str(wanted.canary) if wanted.canary is not None else None,
        "weight": wanted.weight,
        "shadow": str(wanted.shadow) if wanted.shadow is not None else None,
        "routing_header": wanted.routing_header,
        "compare_canary": True,
    }


def _wanted(serving_id: int) -> tuple[Serving, Model, DesiredTraffic]:
    with session_scope() as session:
        serving = session.get(Serving, serving_id)
        if serving is None:
            raise TrafficError(f"serving {serving_id} not found")
        model = session.get(Model, serving.model_id) if serving.model_id is not None else None
        if model is None:
            raise TrafficError(f"serving {serving_id} serves no model")
        session.expunge(serving)
        session.expunge(model)
        return serving, model, desired_traffic(serving)


def runs_wanted(serving_id: int) -> bool | None:
    """Whether the server runs the serving's traffic now (None: it does not answer, or has no stable version)."""
    serving, _, wanted = _wanted(serving_id)
    health = server_health(serving)
    if health is None or wanted.stable is None:
        return None
    return health.get("traffic") == described(wanted)


def apply_traffic(serving_id: int, timeout: float = READY_TIMEOUT_SECONDS) -> dict[str, Any]:
    """Make the running server of ``serving_id`` run the traffic the catalog says; returns it as /health shows it.
    The catalog is read again before each ask, so two changes in a row end on the later one."""
    deadline = time.monotonic() + timeout
    asked: dict[str, Any] | None = None
    last: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        serving, model, wanted = _wanted(serving_id)
        if wanted.stable is None:
            raise TrafficError(f"serving {serving_id} has not resolved the version it serves yet")
        goal = described(wanted)
        last = server_health(serving)
        if last is not None and last.get("traffic") == goal:
            return goal
        loading = last.get("loading_traffic") if last is not None else None
        if last is not None and asked == goal and loading is None and last.get("load_error"):
            raise TrafficError(
                f"serving {serving_id} could not load the traffic {goal}: {last['load_error']}; "
                f"it keeps running {last.get('traffic')}"
            )
        if last is not None and asked != goal and loading in (None, goal):
            response = tell_server(serving, "/admin/traffic", traffic_body(model, wanted))
            if response.status_code in (200, 202):
                asked = goal
            elif response.status_code != 409:
                raise TrafficError(
                    f"serving {serving_id} refused the traffic {goal}: "
                    f"HTTP {response.status_code} {response.text[:300]}"
                )
        time.sleep(POLL_SECONDS)
    raise TrafficError(
        f"serving {serving_id} did not run the traffic within {timeout:.0f} s (last /health: {last})"
    )
