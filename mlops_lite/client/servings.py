"""``client.servings``: servings (a model's version as an inference server), their lifecycle, and predictions
through the platform.

    created = client.servings.create("cpu-live", train_job_id=3)        # created and starting
    # or a model's version, e.g. the alias it follows: create("cpu-live", model_id=2, model_version="champion")
    client.servings.wait(created.serving.id)                            # running, model loaded
    client.servings.predict(created.serving.id, {"data": [{"timestamp": "2024-01-01T00:00", "value": 1.5}]})

Lifecycle calls (``start``, ``stop``, ``remove``, ``delete``, and ``create``/``update`` when they launch) answer
the flow run they launched (``Launch``); ``progress`` follows it, ``wait`` waits for a state.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from mlops_lite.client.errors import MlopsError, TimedOut
from mlops_lite.client.transport import Transport, build, team_filter
from mlops_lite.schemas.common import Page
from mlops_lite.schemas.runs import Launch, Progress
from mlops_lite.schemas.servings import (
    CreateServing,
    InferenceToken,
    ServingChange,
    ServingOut,
    UpdateServing,
)


class Servings:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def create(
        self,
        name: str,
        train_job_id: int | None = None,
        *,
        model_id: int | None = None,
        model_version: str = "latest",
        port: int | None = None,
        team_id: int | None = None,
        start: bool = True,
    ) -> ServingChange:
        """Create a serving of a training job's model or of a model (one of ``train_job_id``, ``model_id``);
        ``model_version`` is 'latest', a number or an alias it follows ('champion'). With ``start`` (default)
        its start is launched too (``.launch``)."""
        body = build(
            CreateServing,
            name=name,
            train_job_id=train_job_id,
            model_id=model_id,
            model_version=model_version,
            port=port,
            team_id=team_id,
            start=start,
        )
        return self._t.send("POST", "/servings", ServingChange, body)

    def get(self, serving_id: int) -> ServingOut:
        """The serving with its live state (asked of the runtime now), its URL and model readiness."""
        return self._t.get(f"/servings/{serving_id}", ServingOut)

    def page(
        self,
        *,
        offset: int = 0,
        limit: int = 50,
        search: str | None = None,
        scenario: str | None = None,
        observed_state: str | None = None,
        failed: bool | None = None,
        live: bool | None = None,
        team_id: int | None = None,
        include_children: bool = False,
    ) -> Page[ServingOut]:
        return self._t.page(
            "/servings",
            ServingOut,
            offset=offset,
            limit=limit,
            q=search,
            scenario=scenario,
            observed_state=observed_state,
            failed=failed,
            live=live,
            **team_filter(team_id, include_children),
        )

    def list(
        self,
        *,
        search: str | None = None,
        scenario: str | None = None,
        observed_state: str | None = None,
        failed: bool | None = None,
        team_id: int | None = None,
        include_children: bool = False,
    ) -> Iterator[ServingOut]:
        """Every serving the caller sees, or of one team (``include_children``: and of the teams below it),
        newest first (pages fetched as the iteration goes)."""
        return self._t.pages(
            "/servings",
            ServingOut,
            q=search,
            scenario=scenario,
            observed_state=observed_state,
            failed=failed,
            **team_filter(team_id, include_children),
        )

    def update(
        self,
        serving_id: int,
        *,
        model_version: str | None = None,
        train_job_id: int | None = None,
        model_id: int | None = None,
        port: int | None = None,
        any_port: bool = False,
    ) -> ServingChange:
        """Change version, model (or job) or port; a running serving restarts to apply it (``.launch``)."""
        body = build(
            UpdateServing,
            model_version=model_version,
            train_job_id=train_job_id,
            model_id=model_id,
            port=port,
            any_port=any_port,
        )
        return self._t.send("PATCH", f"/servings/{serving_id}", ServingChange, body)

    def start(self, serving_id: int) -> Launch:
        return self._t.send("POST", f"/servings/{serving_id}/start", Launch)

    def stop(self, serving_id: int) -> Launch:
        return self._t.send("POST", f"/servings/{serving_id}/stop", Launch)

    def remove(self, serving_id: int) -> Launch:
        """Force-delete the container, even while it runs (the record stays)."""
        return self._t.send("POST", f"/servings/{serving_id}/remove", Launch)

    def delete(self, serving_id: int) -> Launch:
        """Delete the container, then the record."""
        return self._t.send("DELETE", f"/servings/{serving_id}", Launch)

    def progress(self, serving_id: int, flow_run_id: str) -> Progress:
        return self._t.get(f"/servings/{serving_id}/progress", Progress, flow_run_id=flow_run_id)

    def token(self, serving_id: int) -> str:
        """The bearer token the serving's own server requires (to call it directly, on its network)."""
        return self._t.get(f"/servings/{serving_id}/token", InferenceToken).token

    def wait(
        self, serving_id: int, state: str = "running", *, timeout: float = 600.0, poll: float = 1.0
    ) -> ServingOut:
        """Until the serving is observed in ``state`` ("running" also waits for its model to be loaded).
        ``TimedOut`` at the deadline (the work goes on); ``MlopsError`` at once when a lifecycle step records
        a new error meanwhile (a start that failed)."""
        deadline = time.monotonic() + timeout
        serving = self.get(serving_id)
        first_error = serving.error
        while True:
            if serving.observed_state == state and (state != "running" or serving.ready):
                return serving
            if serving.error and serving.error != first_error:
                raise MlopsError(f"serving {serving.name!r}: {serving.error}", code="failed")
            if time.monotonic() >= deadline:
                loading = state == "running" and serving.observed_state == "running"
                raise TimedOut(
                    f"serving {serving.name!r} is not {state} after {timeout:g} s (observed "
                    f"{serving.observed_state}{', its model not loaded yet' if loading else ''}"
                    f"{'; last error: ' + serving.error if serving.error else ''})"
                )
            time.sleep(max(0.0, min(poll, deadline - time.monotonic())))
            serving = self.get(serving_id)

    def predict(self, serving_id: int, payload: dict[str, Any]) -> dict[str, Any]:
        """The serving's answer to ``payload`` (its scenario's request body), through the platform: your API
        token is all it takes. Refusals are errors: ``InvalidRequest`` (422, 413: ``.message`` says which field
        or limit), ``Conflict`` (not running), ``Unavailable`` (loading or not answering)."""
        answer = self._t.request("POST", f"/servings/{serving_id}/predict", json=payload).json()
        if not isinstance(answer, dict):
            raise MlopsError("the serving answered without a JSON object", code="upstream_error")
        return answer
