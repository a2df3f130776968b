"""The inference server's control endpoints: the platform tells a running server what to serve.

- ``POST /admin/model`` ``{"model_uri": "models:/<name>/<N>", "version": "N"}``: serve that version as the
  stable one (the canary and shadow stay, unless it is one of them: a canary made stable is promoted at once,
  it is loaded already).
- ``POST /admin/traffic`` (``algorithms.serve.traffic.TrafficRequest``): the stable version, the canary and its
  weight, the shadow, the routing header — the whole traffic at once.

Both answer 200 when the traffic is in place (``served``: it was already; ``applied``: it needed no load, as a
new weight) and 202 while the versions it lacks load beside the ones answering (``started``, ``loading``: asked
again); 409 while another target loads, 422 for a body that is not one of these. Bodies are checked by
pydantic models, and refused over ``CONTROL_MAX_BODY_BYTES``.

They need their own bearer token (``control_token``, MLOPS_SERVING_CONTROL_TOKEN), which the platform keeps for
itself: the serving's token, which users hold, cannot point the server at another model. A caller without it
gets 401 before any of its body is read; a server started without one answers 403 (``algorithms.serve.asgi``).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from algorithms.base.contracts import clip
from algorithms.serve.asgi import error_response, json_response
from algorithms.serve.loading import LoadBusy, ModelLoader, ServerState, start_load
from algorithms.serve.traffic import ModelRefBody, Target, TrafficRequest

log = logging.getLogger("algorithms.serve")

CONTROL_MAX_BODY_BYTES = 4096
IN_PLACE = frozenset({"served", "applied"})
Body = TypeVar("Body", bound=BaseModel)


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "body"
    return clip(f"{where}: {first.get('msg', 'invalid')}")


def with_stable(current: Target | None, stable: ModelRefBody) -> Target:
    """``current`` with ``stable`` as its stable version (a canary or shadow that is that version is dropped)."""
    ref = stable.ref()
    if current is None:
        return Target(stable=ref)
    canary = None if current.canary == ref else current.canary
    shadow = None if current.shadow == ref else current.shadow
    return dataclasses.replace(
        current, stable=ref, canary=canary, weight=current.weight if canary else 0, shadow=shadow
    )


def add_control_routes(app: FastAPI, state: ServerState, loader: ModelLoader) -> None:
    async def parse(request: Request, model: type[Body]) -> Body | Response:
        """The request's body as ``model``, or the 422 refusing it."""
        raw = await request.body()
        if len(raw) > CONTROL_MAX_BODY_BYTES:
            return error_response(422, "invalid_request", f"the body is over {CONTROL_MAX_BODY_BYTES} bytes")
        try:
            return model.model_validate_json(raw)
        except ValidationError as exc:
            return error_response(422, "invalid_request", _problem(exc))

    def apply(target: Target) -> tuple[str, int] | Response:
        try:
            outcome = start_load(state, target, loader)
        except LoadBusy as exc:
            loading = state.loading
            details = {
                "loading_version": state.loading_version,
                "loading_traffic": loading.describe() if loading else None,
            }
            return error_response(409, "load_in_progress", str(exc), details)
        log.info("control: %s: %s", target.describe(), outcome)
        return outcome, 200 if outcome in IN_PLACE else 202

    # Authorized by InferenceApp.__call__ before these run (the platform's control token).
    @app.post("/admin/model", include_in_schema=False)
    async def control_model(request: Request) -> Response:
        body = await parse(request, ModelRefBody)
        if isinstance(body, Response):
            return body
        routes = state.routes
        applied = apply(with_stable(routes.target if routes else None, body))
        if isinstance(applied, Response):
            return applied
        outcome, status = applied
        loaded = state.loaded
        return json_response(
            {
                "outcome": outcome,
                "model_version": loaded.version if loaded else None,
                "loading_version": body.version,
            },
            status,
        )

    @app.post("/admin/traffic", include_in_schema=False)
    async def control_traffic(request: Request) -> Response:
        body = await parse(request, TrafficRequest)
        if isinstance(body, Response):
            return body
        applied = apply(body.target())
        if isinstance(applied, Response):
            return applied
        outcome, status = applied
        routes, loading = state.routes, state.loading
        return json_response(
            {
                "outcome": outcome,
                "traffic": routes.target.describe() if routes else None,
                "loading_traffic": loading.describe() if loading else None,
            },
            status,
        )
