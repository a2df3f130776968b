"""The inference ASGI app: loads one MLflow pyfunc model by URI and serves it by its scenario's contract.

Endpoints: POST /predict, GET /health (model URI, instance id), GET /ready (503 until the model is loaded
and warmed up), GET /metrics (Prometheus), /docs and /openapi.json (``algorithms.serve.openapi``: exact, built
from the scenario contract's declared bodies). The model loads in a background thread
so /health answers during a slow load; a load failure calls ``on_load_failure`` (the entrypoint stops the
server and exits non-zero) — there is never a fallback model.

Request bodies of /predict are counted as they arrive: a ``content-length`` over ``MLOPS_PREDICT_MAX_BODY_BYTES``
is refused before any of the body is read, and a body that passes the limit while arriving is refused at once,
without reading the rest (413, and the connection is closed, since the rest of the body is never read).
"""

from __future__ import annotations

import gc
import hmac
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from algorithms.base.contracts import ContractError, Limits, ScenarioContract, ServedModel, clip
from algorithms.base.scenarios import get_contract
from algorithms.serve.metrics import ServerMetrics
from algorithms.serve.openapi import Health, Readiness, document

log = logging.getLogger("algorithms.serve")

ModelLoader = Callable[[str], Any]
WARMUP_LIMITS = Limits(
    max_batch_size=2**31,
    max_images=2**31,
    max_image_bytes=2**40,
    max_image_pixels=2**40,
    max_request_pixels=2**40,
    max_body_bytes=2**40,
)


def load_pyfunc(uri: str) -> Any:
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(uri)


JSON_HEADERS = b"content-type", b"application/json"
Answer = Callable[[bytes | bytearray], Awaitable[tuple[int, bytes]]]


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


class InferenceApp(FastAPI):
    """FastAPI for every route but ``POST /predict``, which is answered at the ASGI level: FastAPI's and
    Starlette's middleware stack, routing and request/response objects cost more than the prediction itself on
    a one-point request (the route registered on the app only documents /predict in the OpenAPI schema).

    ``answer`` turns a whole request body into (status, JSON body); ``refused`` is told of a body refused while
    it arrives (over ``limits``); callers of /predict and /metrics must send "Authorization: Bearer <token>"
    (``token`` None: no check, for a local experiment or an in-process test).
    """

    def __init__(
        self,
        *,
        answer: Answer,
        limits: Limits,
        refused: Callable[[ContractError], None],
        token: str | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.answer = answer
        self.limits = limits
        self.refused = refused
        self.token = token.encode() if token else None

    def _authorized(self, scope: Scope) -> bool:
        if self.token is None:
            return True
        for name, value in scope.get("headers") or ():
            if name == b"authorization":
                scheme, _, credentials = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self.token)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in PROTECTED_PATHS and not self._authorized(scope):
            # Before the body is read: an unauthenticated caller costs no more than its headers.
            await self._send(send, 401, UNAUTHORIZED, close=True, extra=[(b"www-authenticate", b"Bearer")])
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
        status, body = await self.answer(raw)
        await self._send(send, status, body)

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
        close: bool = False,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        headers = [JSON_HEADERS, (b"content-length", str(len(body)).encode()), *(extra or [])]
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@dataclass
class ServerState:
    model_uri: str
    scenario: str | None
    limits: Limits
    instance_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    )
    served: ServedModel | None = None
    contract: ScenarioContract | None = None
    load_error: str | None = None
    load_seconds: float | None = None
    metrics: ServerMetrics = field(default_factory=ServerMetrics)


def _load(
    state: ServerState, loader: ModelLoader, on_failure: Callable[[BaseException], None] | None
) -> None:
    started = time.perf_counter()
    try:
        pyfunc = loader(state.model_uri)
        try:
            python_model = pyfunc.unwrap_python_model()
        except Exception:  # noqa: BLE001 - flavours other than python_function have no python model
            python_model = None
        metadata = getattr(getattr(pyfunc, "metadata", None), "metadata", None) or {}
        scenario = state.scenario or metadata.get("scenario") or getattr(python_model, "scenario", None)
        if not scenario:
            raise ValueError("the model does not say its scenario; pass --scenario")
        contract = get_contract(scenario)
        served = ServedModel(uri=state.model_uri, pyfunc=pyfunc, python_model=python_model)
        # First predict pays one-off costs (imports, numba compilation); pay them before reporting ready.
        # The warm-up is not a client request: the configured limits (possibly below its size) do not apply.
        contract.predict(contract.warmup_body(served), served, WARMUP_LIMITS)
        state.scenario, state.contract = scenario, contract
        gc.collect()
        # A full collection over mlflow + pandas objects takes ~250 ms; freezing them removes those stalls.
        gc.freeze()
        state.load_seconds = time.perf_counter() - started
        state.metrics.load_seconds.set(state.load_seconds)
        state.served = served
        state.metrics.ready.set(1)
        log.info("model %s (%s) ready in %.2f s", state.model_uri, scenario, state.load_seconds)
    except BaseException as exc:  # noqa: BLE001 - any load failure must stop the server
        state.load_error = f"{type(exc).__name__}: {exc}"
        log.error("failed to load model %s:\n%s", state.model_uri, traceback.format_exc())
        if on_failure is not None:
            on_failure(exc)


def create_app(
    model_uri: str,
    *,
    scenario: str | None = None,
    limits: Limits | None = None,
    loader: ModelLoader = load_pyfunc,
    on_load_failure: Callable[[BaseException], None] | None = None,
    token: str | None = None,
) -> FastAPI:
    """The app; the model starts loading when the app's lifespan starts. ``token``: the bearer token /predict
    and /metrics require (the platform passes MLOPS_SERVING_TOKEN; None only for in-process tests)."""
    state = ServerState(model_uri=model_uri, scenario=scenario, limits=limits or Limits.from_env())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        threading.Thread(
            target=_load, args=(state, loader, on_load_failure), name="model-load", daemon=True
        ).start()
        yield

    def refused(exc: ContractError) -> None:
        state.metrics.count_request(exc.status)
        state.metrics.errors.labels(exc.code).inc()

    async def answer(raw: bytes | bytearray) -> tuple[int, bytes]:
        started = time.perf_counter()
        metrics = state.metrics
        status, body = await _predict(raw)
        metrics.count_request(status)
        metrics.latency.observe(time.perf_counter() - started)
        return status, body

    async def _predict(raw: bytes | bytearray) -> tuple[int, bytes]:
        served, contract = state.served, state.contract
        if served is None or contract is None:
            state.metrics.errors.labels("not_ready").inc()
            return 503, error_body(
                "not_ready", "the model is not loaded yet", {"load_error": state.load_error}
            )
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            state.metrics.errors.labels("invalid_json").inc()
            return 400, error_body("invalid_json", clip(f"request body is not valid JSON: {exc}"))
        try:
            if contract.runs_inline(served):
                payload = contract.predict(body, served, state.limits)
            else:
                payload = await run_in_threadpool(contract.predict, body, served, state.limits)
        except ContractError as exc:
            state.metrics.errors.labels(exc.code).inc()
            return exc.status, dumps(exc.body())
        except Exception as exc:
            log.exception("prediction failed")
            state.metrics.errors.labels("prediction_failed").inc()
            return 500, error_body("prediction_failed", clip(f"{type(exc).__name__}: {exc}"))
        count = payload.get("metadata", {}).get("count")
        if count:
            state.metrics.records.inc(count)
        return 200, dumps(payload)

    app = InferenceApp(
        answer=answer,
        limits=state.limits,
        refused=refused,
        token=token,
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
        status, body = await answer(await request.body())
        return Response(body, status, media_type="application/json")

    @app.get("/health", summary="Liveness, model URI and instance id")
    async def health() -> Response:
        body: Health = {
            "status": "ok",
            "model_uri": state.model_uri,
            "instance_id": state.instance_id,
            "scenario": state.scenario,
            "ready": state.served is not None,
        }
        return json_response(body)

    @app.get("/ready", summary="200 once the model is loaded and warmed up, else 503")
    async def ready() -> Response:
        body: Readiness = {
            "ready": state.served is not None,
            "model_uri": state.model_uri,
            "load_seconds": state.load_seconds,
            "load_error": state.load_error,
        }
        return json_response(body, 200 if state.served is not None else 503)

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(state.metrics.render(), media_type=state.metrics.content_type)

    kept: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        # Built on request: the loaded model decides parts of it (an anomaly model's value columns).
        if kept:
            return kept[0]
        served = state.served
        contract = state.contract or (get_contract(scenario) if scenario else None)
        doc = document(
            app, contract=contract, served=served, limits=state.limits, secured=app.token is not None
        )
        if served is not None:
            kept.append(doc)
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
    return app
