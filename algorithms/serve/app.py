"""The inference ASGI app: serves an MLflow pyfunc model by its scenario's contract — a stable version, and
optionally a canary taking a share of the requests and a shadow answering copies — and changes what it serves
without dropping a request.

Endpoints: POST /predict, GET /health (model URI and version, the traffic applied and the one loading, the last
load error, instance id), GET /ready (503 until the first model is loaded and warmed up; 200 from then on,
during a swap too), GET /metrics (Prometheus, by version: ``algorithms.serve.metrics``), /docs and
/openapi.json (``algorithms.serve.openapi``: exact, built from the scenario contract's declared bodies), and the
platform's control endpoints (``algorithms.serve.control``). Models load in a background thread
(``algorithms.serve.loading``) so /health answers during a slow load; a failed first load calls
``on_load_failure`` (the entrypoint stops the server and exits non-zero) — there is never a fallback model.

Each request is routed to the stable version or the canary (``algorithms.serve.traffic``: by the weight, or
sticky by a routing header's value). Every answer a loaded model gives to /predict (200, and its 4xx/5xx) names
the version that produced it: header ``x-model-version`` and ``metadata.model_version`` of a 200, both from
the one model that answered it. Copies for a shadow, and for the stable version beside a canary, go to
``algorithms.serve.mirror`` after the answer is built; the live answer never waits for them. Nor does it wait
for the prediction log (``algorithms.serve.predlog``: a buffer the platform collects from): every answer of a
server that logs carries its request id (``x-request-id``, the caller's own if it sent a plain one), by which
feedback finds it.

Request bodies of /predict are counted as they arrive: a ``content-length`` over ``MLOPS_PREDICT_MAX_BODY_BYTES``
is refused before any of the body is read, and a body that passes the limit while arriving is refused at once,
without reading the rest (413, and the connection is closed, since the rest of the body is never read).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from algorithms.base.contracts import ContractError, Limits, clip
from algorithms.base.scenarios import get_contract
from algorithms.serve.asgi import (
    BASE_HEADERS,
    InferenceApp,
    dumps,
    error_body,
    error_response,
    header,
    json_response,
)
from algorithms.serve.control import add_control_routes
from algorithms.serve.loading import (
    Headers,
    Loaded,
    ModelLoader,
    ServerState,
    load_pyfunc,
    start_load,
    version_of,
)
from algorithms.serve.mirror import Copy, Mirror
from algorithms.serve.openapi import Health, Readiness, document
from algorithms.serve.predlog import (
    REQUEST_ID_HEADER,
    LogSettings,
    PredictionLog,
    add_log_route,
    record,
    request_id,
)
from algorithms.serve.traffic import ModelRef, Target, sticky_to_canary

__all__ = ["InferenceApp", "create_app", "load_pyfunc"]

log = logging.getLogger("algorithms.serve")


def _instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def create_app(
    model_uri: str,
    *,
    scenario: str | None = None,
    limits: Limits | None = None,
    loader: ModelLoader = load_pyfunc,
    on_load_failure: Callable[[BaseException], None] | None = None,
    token: str | None = None,
    model_version: str | None = None,
    control_token: str | None = None,
    mirror_per_second: float | None = None,
    prediction_log: LogSettings | None = None,
) -> FastAPI:
    """The app; the model starts loading when the app's lifespan starts. ``token``: the bearer token /predict
    and /metrics require (the platform passes MLOPS_SERVING_TOKEN; None only for in-process tests);
    ``model_version``: the version ``model_uri`` is (default: the N of ``models:/name/N``); ``control_token``:
    the one the control endpoints require (None: they are off); ``mirror_per_second``: copies sampled per other
    version each second (default: MLOPS_SERVING_MIRROR_PER_SECOND, ``algorithms.serve.mirror``);
    ``prediction_log``: whether and how much to log for the platform to collect (default:
    ``MLOPS_PREDICTION_LOG_*``, off; ``algorithms.serve.predlog``)."""
    state = ServerState(
        model_uri=model_uri,
        scenario=scenario,
        limits=limits or Limits.from_env(),
        instance_id=_instance_id(),
    )
    first = Target(stable=ModelRef(model_uri, version_of(model_uri, model_version)))
    mirror = Mirror(state.metrics, state.limits, per_second=mirror_per_second)
    log_settings = prediction_log if prediction_log is not None else LogSettings()
    predlog = PredictionLog(log_settings, state.metrics.count_logged) if log_settings.enabled else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        start_load(state, first, loader, on_load_failure)
        yield

    def refused(exc: ContractError) -> None:
        state.metrics.count_request(exc.status)
        state.metrics.errors.labels(exc.code, "none").inc()

    async def answer(raw: bytes | bytearray, scope: Scope) -> tuple[int, bytes, Headers]:
        started = time.perf_counter()
        metrics = state.metrics
        # One read: the whole answer comes from these routes, whatever is applied meanwhile.
        routes = state.routes
        if routes is None:
            metrics.count_request(503)
            metrics.errors.labels("not_ready", "none").inc()
            body = error_body("not_ready", "the model is not loaded yet", {"load_error": state.load_error})
            return 503, body, BASE_HEADERS
        loaded = routes.stable
        canary = routes.canary
        if canary is not None and routes.weight:
            key = header(scope, routes.routing_header) if routes.routing_header is not None else None
            if key:
                if sticky_to_canary(key, routes.weight):
                    loaded = canary
            elif random.random() * 100.0 < routes.weight:
                loaded = canary
        status, body, headers, payload = await _predict(raw, loaded)
        took = time.perf_counter() - started
        metrics.count_request(status, loaded.label)
        metrics.observe(loaded.label, took)
        if predlog is not None:
            rid = request_id(header(scope, REQUEST_ID_HEADER))
            predlog.submit(record(log_settings, rid, loaded.label, status, took * 1000.0, raw, body))
            headers = (*headers, (REQUEST_ID_HEADER, rid.encode()))
        if payload is not None:
            if routes.shadow is not None:
                mirror.submit(Copy(raw, loaded, payload, routes.shadow, other_is_candidate=True))
            if loaded is canary and routes.target.compare_canary:
                mirror.submit(Copy(raw, loaded, payload, routes.stable, other_is_candidate=False))
        return status, body, headers

    async def _predict(
        raw: bytes | bytearray, loaded: Loaded
    ) -> tuple[int, bytes, Headers, dict[str, Any] | None]:
        served, contract, headers, errors = (
            loaded.served,
            loaded.contract,
            loaded.headers,
            state.metrics.errors,
        )
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            errors.labels("invalid_json", loaded.label).inc()
            message = clip(f"request body is not valid JSON: {exc}")
            return 400, error_body("invalid_json", message), headers, None
        try:
            if contract.runs_inline(served):
                payload = contract.predict(body, served, state.limits)
            else:
                payload = await run_in_threadpool(contract.predict, body, served, state.limits)
        except ContractError as exc:
            errors.labels(exc.code, loaded.label).inc()
            return exc.status, dumps(exc.body()), headers, None
        except Exception as exc:
            log.exception("prediction failed")
            errors.labels("prediction_failed", loaded.label).inc()
            message = clip(f"{type(exc).__name__}: {exc}")
            return 500, error_body("prediction_failed", message), headers, None
        count = payload.get("metadata", {}).get("count")
        if count:
            state.metrics.records.inc(count)
        return 200, dumps(payload), headers, payload

    app = InferenceApp(
        answer=answer,
        limits=state.limits,
        refused=refused,
        token=token,
        control_token=control_token,
        title="mlops-lite inference",
        version="1",
        lifespan=lifespan,
    )
    app.state.server = state

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        # Starlette's headers (Allow on a 405) are part of the answer: RFC 9110 requires Allow there.
        response = error_response(exc.status_code, "http_error", str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @app.post("/predict", summary="Predict by the scenario's contract")
    async def predict(request: Request) -> Response:
        # Documents /predict in the OpenAPI schema and /docs; requests are answered by InferenceApp.__call__.
        status, body, headers = await answer(await request.body(), request.scope)
        return Response(body, status, headers={k.decode(): v.decode() for k, v in headers})

    add_control_routes(app, state, loader)
    add_log_route(app, predlog, state.instance_id)

    @app.get("/health", summary="Liveness, the model served and the one loading")
    async def health() -> Response:
        loaded, routes, loading = state.loaded, state.routes, state.loading
        body: Health = {
            "status": "ok",
            "traffic": routes.target.describe() if routes is not None else None,
            "loading_traffic": loading.describe() if loading is not None else None,
            "model_uri": state.current_uri,
            "model_version": _version(loaded),
            "loading_version": state.loading_version,
            "load_error": state.load_error,
            "instance_id": state.instance_id,
            "scenario": state.scenario,
            "ready": loaded is not None,
        }
        return json_response(body)

    @app.get("/ready", summary="200 once a model is loaded and warmed up (during a swap too), else 503")
    async def ready() -> Response:
        loaded = state.loaded
        body: Readiness = {
            "ready": loaded is not None,
            "model_uri": state.current_uri,
            "model_version": _version(loaded),
            "load_seconds": loaded.load_seconds if loaded is not None else None,
            "load_error": state.load_error,
        }
        return json_response(body, 200 if loaded is not None else 503)

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(state.metrics.render(), media_type=state.metrics.content_type)

    kept: dict[tuple[str, str | None], dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        # Built on request: the loaded model decides parts of it (an anomaly model's value columns); kept for
        # that model, built again after a swap.
        loaded = state.loaded
        if loaded is not None and (loaded.uri, loaded.version) in kept:
            return kept[(loaded.uri, loaded.version)]
        contract = loaded.contract if loaded is not None else (get_contract(scenario) if scenario else None)
        doc = document(
            app,
            contract=contract,
            served=loaded.served if loaded is not None else None,
            limits=state.limits,
            secured=app.token is not None,
        )
        if loaded is not None:
            kept.clear()
            kept[(loaded.uri, loaded.version)] = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _version(loaded: Loaded | None) -> str | None:
    return loaded.version if loaded is not None else None
