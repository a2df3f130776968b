"""The inference ASGI app: serves one MLflow pyfunc model at a time by its scenario's contract, and swaps in
another version without dropping a request.

Endpoints: POST /predict, GET /health (model URI and version, the version loading, the last load error, instance
id), GET /ready (503 until the first model is loaded and warmed up; 200 from then on, during a swap too),
GET /metrics (Prometheus), /docs and /openapi.json (``algorithms.serve.openapi``: exact, built from the scenario
contract's declared bodies), and POST /admin/model, the platform's control endpoint (below). Models load in a
background thread (``algorithms.serve.loading``) so /health answers during a slow load; a failed first load
calls ``on_load_failure`` (the entrypoint stops the server and exits non-zero) — there is never a fallback model.

Every answer a loaded model gives to /predict (200, and its 4xx/5xx) names the version that produced it: header
``x-model-version`` and ``metadata.model_version`` of a 200, both from the one model that answered it.

``POST /admin/model`` ``{"model_uri": "models:/<name>/<N>", "version": "N"}`` loads that version beside the
served one and swaps it in once warmed up (202; 200 when it is served already; 409 while another version
loads). It needs its own bearer token (``control_token``, MLOPS_SERVING_CONTROL_TOKEN), which the platform keeps
for itself: the serving's token, which users hold, cannot point the server at another model. A caller without
it gets 401 before any of its body is read; a server started without one answers 403.

Request bodies of /predict are counted as they arrive: a ``content-length`` over ``MLOPS_PREDICT_MAX_BODY_BYTES``
is refused before any of the body is read, and a body that passes the limit while arriving is refused at once,
without reading the rest (413, and the connection is closed, since the rest of the body is never read).
"""

from __future__ import annotations

import hmac
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from algorithms.base.contracts import ContractError, Limits, clip
from algorithms.base.scenarios import get_contract
from algorithms.serve.loading import (
    JSON_HEADER,
    Headers,
    LoadBusy,
    Loaded,
    ModelLoader,
    ServerState,
    check_version,
    load_pyfunc,
    start_load,
    version_of,
)
from algorithms.serve.openapi import Health, Readiness, document

__all__ = ["InferenceApp", "create_app", "load_pyfunc"]

log = logging.getLogger("algorithms.serve")

Answer = Callable[[bytes | bytearray], Awaitable[tuple[int, bytes, Headers]]]
BASE_HEADERS: Headers = (JSON_HEADER,)
CONTROL_PATH = "/admin/model"
CONTROL_MAX_BODY_BYTES = 4096


def dumps(payload: Any) -> bytes:
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(dumps(payload), status, media_type="application/json")


def error_body(code: str, message: str, details: Any = None) -> bytes:
    return dumps({"error": {"code": code, "message": message, "details": details}})


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    return Response(error_body(code, message, details), status, media_type="application/json")


PROTECTED_PATHS = frozenset({"/predict", "/metrics"})
UNAUTHORIZED = error_body(
    "unauthorized",
    "this serving answers only callers with its token: send 'Authorization: Bearer <token>' "
    "(`mlops servings token ID`, or the serving's page in the dashboard)",
)
CONTROL_UNAUTHORIZED = error_body(
    "unauthorized", "the control endpoint answers only the platform: send its control token"
)
CONTROL_DISABLED = error_body(
    "control_disabled", "this server takes no control requests (started without MLOPS_SERVING_CONTROL_TOKEN)"
)


def _bearer_matches(scope: Scope, token: bytes) -> bool:
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            scheme, _, credentials = value.partition(b" ")
            return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), token)
    return False


class InferenceApp(FastAPI):
    """FastAPI for every route but ``POST /predict``, which is answered at the ASGI level: FastAPI's and
    Starlette's middleware stack, routing and request/response objects cost more than the prediction itself on
    a one-point request (the route registered on the app only documents /predict in the OpenAPI schema).

    ``answer`` turns a whole request body into (status, JSON body, headers of the model that answered);
    ``refused`` is told of a body refused while it arrives (over ``limits``); callers of /predict and /metrics
    must send "Authorization: Bearer <token>" (``token`` None: no check, for a local experiment or an in-process
    test), callers of the control endpoint the ``control_token`` (None: the endpoint is off).
    """

    def __init__(
        self,
        *,
        answer: Answer,
        limits: Limits,
        refused: Callable[[ContractError], None],
        token: str | None,
        control_token: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.answer = answer
        self.limits = limits
        self.refused = refused
        self.token = token.encode() if token else None
        self.control_token = control_token.encode() if control_token else None

    def _authorized(self, scope: Scope) -> bool:
        return self.token is None or _bearer_matches(scope, self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in PROTECTED_PATHS and not self._authorized(scope):
            # Before the body is read: an unauthenticated caller costs no more than its headers.
            await self._send(send, 401, UNAUTHORIZED, close=True, extra=[(b"www-authenticate", b"Bearer")])
            return
        if scope["type"] == "http" and scope["path"] == CONTROL_PATH:
            if self.control_token is None:
                await self._send(send, 403, CONTROL_DISABLED, close=True)
                return
            if not _bearer_matches(scope, self.control_token):
                await self._send(
                    send, 401, CONTROL_UNAUTHORIZED, close=True, extra=[(b"www-authenticate", b"Bearer")]
                )
                return
        if scope["type"] != "http" or scope["path"] != "/predict" or scope["method"] != "POST":
            await super().__call__(scope, receive, send)
            return
        try:
            raw = await self._read_body(scope, receive)
        except ContractError as exc:
            self.refused(exc)
            # The rest of the body is never read, so the connection cannot carry another request.
            await self._send(send, exc.status, dumps(exc.body()), close=True)
            return
        if raw is None:
            return
        status, body, headers = await self.answer(raw)
        await self._send(send, status, body, headers=headers)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | bytearray | None:
        """The whole body (None if the client left), or 413 once it passes the limit; never more than the
        limit plus one received message is held."""
        limits = self.limits
        for name, value in scope.get("headers") or ():
            if name == b"content-length" and value.isdigit():
                limits.check_body_bytes(int(value), announced=True)
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        first = message.get("body", b"")
        limits.check_body_bytes(len(first))
        if not message.get("more_body", False):
            return first
        # orjson parses a bytearray as is: the chunks are never joined into a second copy.
        buffer = bytearray(first)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            buffer += message.get("body", b"")
            limits.check_body_bytes(len(buffer))
            if not message.get("more_body", False):
                return buffer

    @staticmethod
    async def _send(
        send: Send,
        status: int,
        body: bytes,
        *,
        headers: Headers = BASE_HEADERS,
        close: bool = False,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        out = [*headers, (b"content-length", str(len(body)).encode())]
        if extra:
            out += extra
        if close:
            out.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": body})


def _instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _control_request(raw: bytes) -> tuple[str, str]:
    """(model URI, version) of a control request, or ValueError saying what is wrong."""
    if len(raw) > CONTROL_MAX_BODY_BYTES:
        raise ValueError(f"the body is over {CONTROL_MAX_BODY_BYTES} bytes")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict) or set(body) != {"model_uri", "version"}:
        raise ValueError('expected {"model_uri": "models:/<name>/<N>", "version": "<N>"}')
    uri, version = body["model_uri"], body["version"]
    if not isinstance(uri, str) or not 0 < len(uri) <= 1000 or not isinstance(version, str):
        raise ValueError("model_uri is a string of 1-1000 characters, version a string")
    return uri, check_version(version)


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
) -> FastAPI:
    """The app; the model starts loading when the app's lifespan starts. ``token``: the bearer token /predict
    and /metrics require (the platform passes MLOPS_SERVING_TOKEN; None only for in-process tests);
    ``model_version``: the version ``model_uri`` is (default: the N of ``models:/name/N``); ``control_token``:
    the one the control endpoint requires (None: it is off)."""
    state = ServerState(
        model_uri=model_uri,
        scenario=scenario,
        limits=limits or Limits.from_env(),
        instance_id=_instance_id(),
    )
    first_version = version_of(model_uri, model_version)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        start_load(state, model_uri, first_version, loader, on_load_failure)
        yield

    def refused(exc: ContractError) -> None:
        state.metrics.count_request(exc.status)
        state.metrics.errors.labels(exc.code).inc()

    async def answer(raw: bytes | bytearray) -> tuple[int, bytes, Headers]:
        started = time.perf_counter()
        metrics = state.metrics
        status, body, headers = await _predict(raw)
        metrics.count_request(status)
        metrics.latency.observe(time.perf_counter() - started)
        return status, body, headers

    async def _predict(raw: bytes | bytearray) -> tuple[int, bytes, Headers]:
        # One read: the whole answer comes from this model, whatever is swapped in meanwhile.
        loaded = state.loaded
        if loaded is None:
            state.metrics.errors.labels("not_ready").inc()
            body = error_body("not_ready", "the model is not loaded yet", {"load_error": state.load_error})
            return 503, body, BASE_HEADERS
        served, contract, headers = loaded.served, loaded.contract, loaded.headers
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            state.metrics.errors.labels("invalid_json").inc()
            return 400, error_body("invalid_json", clip(f"request body is not valid JSON: {exc}")), headers
        try:
            if contract.runs_inline(served):
                payload = contract.predict(body, served, state.limits)
            else:
                payload = await run_in_threadpool(contract.predict, body, served, state.limits)
        except ContractError as exc:
            state.metrics.errors.labels(exc.code).inc()
            return exc.status, dumps(exc.body()), headers
        except Exception as exc:
            log.exception("prediction failed")
            state.metrics.errors.labels("prediction_failed").inc()
            return 500, error_body("prediction_failed", clip(f"{type(exc).__name__}: {exc}")), headers
        count = payload.get("metadata", {}).get("count")
        if count:
            state.metrics.records.inc(count)
        return 200, dumps(payload), headers

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
        status, body, headers = await answer(await request.body())
        return Response(body, status, headers={k.decode(): v.decode() for k, v in headers})

    @app.post(CONTROL_PATH, include_in_schema=False)
    async def control(request: Request) -> Response:
        # Authorized by InferenceApp.__call__ before this runs (the platform's control token).
        try:
            uri, version = _control_request(await request.body())
        except ValueError as exc:
            return error_response(422, "invalid_request", clip(str(exc)))
        try:
            outcome = start_load(state, uri, version, loader)
        except LoadBusy as exc:
            return error_response(
                409, "load_in_progress", str(exc), {"loading_version": state.loading_version}
            )
        log.info("control: load %s (version %s): %s", uri, version, outcome)
        body = {"outcome": outcome, "model_version": _version(state.loaded), "loading_version": version}
        return json_response(body, 200 if outcome == "served" else 202)

    @app.get("/health", summary="Liveness, the model served and the one loading")
    async def health() -> Response:
        loaded = state.loaded
        body: Health = {
            "status": "ok",
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
