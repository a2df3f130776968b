"""Predict through the platform: ``POST /servings/{id}/predict`` passed on to the serving's inference server.

The caller's token decides who calls (``api.deps``) and the serving must be one they see (a foreign one is the
same 404 as a missing one). The body is read here, bounded by ``MLOPS_PREDICT_MAX_BODY_BYTES`` (the path is in
``api.limits.STREAMING``: the API's own JSON limit is far smaller than an image request), and checked as the
server would check it (``tasks.predict.check_request``: 415, 413, 422) before anything is sent. The API then
adds the serving's own bearer token and forwards the body as received; a 200 answer is streamed back as it
arrives. A serving that is not running is a 409, one that does not answer a 503, one that answers too late
(``MLOPS_API_PROXY_TIMEOUT_SECONDS``) a 504; its own refusals keep their status, in the API's error shape.

The upstream calls go through one ``httpx.AsyncClient`` per API process (opened by the servings router's
lifespan, bounded connection pool) so a slow model holds a connection, never one of the API's threads; catalog
and runtime reads run in worker threads (``anyio.to_thread``). ``tasks.predict`` (Prefect, MLflow, pandas: some
200 MB) is imported on the first prediction, not with the app, so an API that serves no predictions stays small.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from api.errors import CODES
from catalog.db import read_session
from catalog.errors import shorten
from catalog.models import Serving
from catalog.scoping import Actor
from catalog.services import serving as serving_service
from infra.settings import get_settings

if TYPE_CHECKING:
    from tasks.predict import PredictError

STATE_KEY = "predict_http"
# An error answer of a serving is small (its envelope, details capped); a larger one is not read further.
MAX_ERROR_BYTES = 64 * 1024
POOL = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0)


def new_client() -> httpx.AsyncClient:
    timeout = get_settings().api.proxy_timeout_seconds
    # trust_env off: the serving is reached directly, never through a proxy named by the environment.
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), limits=POOL, trust_env=False
    )


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
    """The API process's upstream client, for as long as the app runs."""
    async with new_client() as client:
        yield {STATE_KEY: client}


def error(status: int, message: str, *, details: Any = None) -> JSONResponse:
    """The API's error shape and codes (``api.errors``), with the per-field ``details`` of the inference
    contract when there are some."""
    body: dict[str, Any] = {
        "code": CODES.get(status, "error"),
        "message": shorten(message, 500),
        "status": status,
    }
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status)


def _refused(exc: PredictError) -> JSONResponse:
    return error(exc.status, str(exc), details=exc.details)


async def _read_body(request: Request) -> bytes | JSONResponse:
    """The whole body, or the refusal: not JSON (415), over the limit (413, from its length or as it arrives)."""
    from tasks import predict as predict_task

    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        return error(415, f"send the body as application/json (got {ctype[:60] or 'no content type'})")
    length = request.headers.get("content-length")
    try:
        if length is not None:
            if not length.isdigit():
                return error(400, "content-length is not a number")
            predict_task.check_body_size(int(length), announced=True)
        buffer = bytearray()
        async for chunk in request.stream():
            buffer += chunk
            predict_task.check_body_size(len(buffer))
    except predict_task.PredictError as exc:
        return _refused(exc)
    return bytes(buffer)


def _scoped(actor: Actor, serving_id: int) -> Serving:
    with read_session() as session:  # seen (else 404) and servings:predict (else 403)
        serving = serving_service.predictable(session, actor=actor, serving_id=serving_id)
        session.expunge(serving)  # kept as read: the read session's rollback would expire it
        return serving


def _checked(serving: Serving, raw: bytes) -> tuple[str, dict[str, str]]:
    """Parse and check the body as the server would, then find the server (PredictError otherwise)."""
    from tasks import predict as predict_task

    try:
        payload = json.loads(raw)
    except ValueError as exc:
        raise predict_task.PredictError(f"request body is not valid JSON: {exc}", status=422) from None
    if not isinstance(payload, dict):
        raise predict_task.PredictError(
            f"the request body must be a JSON object, got {type(payload).__name__}", status=422
        )
    predict_task.check_request(serving.scenario, payload)
    return predict_task.upstream(serving)


async def forward(request: Request, *, actor: Actor, serving_id: int) -> Response:
    from tasks import predict as predict_task

    serving = await anyio.to_thread.run_sync(_scoped, actor, serving_id)
    raw = await _read_body(request)
    if isinstance(raw, Response):
        return raw
    try:
        url, headers = await anyio.to_thread.run_sync(_checked, serving, raw)
    except predict_task.PredictError as exc:
        return _refused(exc)
    shared: httpx.AsyncClient | None = getattr(request.state, STATE_KEY, None)
    # An app run without its lifespan (an in-process test client) gets a client for this request alone.
    client = shared or new_client()

    async def done(answer: httpx.Response | None = None) -> None:
        if answer is not None:
            await answer.aclose()
        if shared is None:
            await client.aclose()

    name = repr(serving.name)
    upstream_request = client.build_request(
        "POST", url, content=raw, headers={**headers, "Content-Type": "application/json"}
    )
    try:
        answer = await client.send(upstream_request, stream=True)
    except httpx.TimeoutException:
        await done()
        timeout = get_settings().api.proxy_timeout_seconds
        return error(
            504, f"serving {name} did not answer within {timeout:g} s (MLOPS_API_PROXY_TIMEOUT_SECONDS)"
        )
    except httpx.TransportError as exc:
        await done()
        return error(503, f"serving {name} does not answer: {type(exc).__name__}: {exc}")
    if answer.status_code == 200:
        passed = {k: v for k, v in answer.headers.items() if k in ("content-type", "content-encoding")}

        async def relay() -> AsyncIterator[bytes]:
            # Closed however the relay ends: the caller may leave before the whole answer is read.
            try:
                async for chunk in answer.aiter_raw():
                    yield chunk
            finally:
                await done(answer)

        return StreamingResponse(relay(), status_code=200, headers=passed)
    try:
        return await _upstream_error(answer, name)
    finally:
        await done(answer)


async def _upstream_error(answer: httpx.Response, name: str) -> JSONResponse:
    """A serving's refusal in the API's shape and codes, with its details. Its 4xx keep their status (the
    request is at fault); its 401/403 are the platform's fault (the token it sent), so a 502 like its other
    failures; a 503 stays one (the model is still loading: retry)."""
    body = bytearray()
    async for chunk in answer.aiter_bytes():
        body += chunk
        if len(body) > MAX_ERROR_BYTES:
            break
    message, details = f"HTTP {answer.status_code}", None
    try:
        envelope = json.loads(bytes(body))["error"]
        message, details = str(envelope["message"]), envelope.get("details")
    except (ValueError, KeyError, TypeError):
        pass
    status = answer.status_code
    if status in (401, 403):
        return error(502, f"serving {name} refused the platform's token: {message}")
    if status == 503:
        return error(503, f"serving {name} is not ready: {message}", details=details)
    if status >= 500:
        return error(502, f"serving {name} failed: {message}", details=details)
    return error(status, message, details=details)
