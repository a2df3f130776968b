"""The inference server's ASGI layer: ``InferenceApp`` answers ``POST /predict`` itself (below FastAPI) and checks
every caller's bearer token before any of its body is read; the JSON helpers and error bodies every route uses.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from algorithms.base.contracts import ContractError, Limits
from algorithms.serve.loading import JSON_HEADER, Headers

# (whole request body, ASGI scope) → (status, JSON body, headers of the model that answered)
Answer = Callable[[bytes | bytearray, Scope], Awaitable[tuple[int, bytes, Headers]]]
BASE_HEADERS: Headers = (JSON_HEADER,)
CONTROL_PATHS = frozenset({"/admin/model", "/admin/traffic", "/admin/predictions"})


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

    ``answer`` turns a whole request body (and the request's scope: its headers may route it) into (status,
    JSON body, headers of the model that answered);
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
        if scope["type"] == "http" and scope["path"] in CONTROL_PATHS:
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
        status, body, headers = await self.answer(raw, scope)
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


def header(scope: Scope, name: bytes) -> bytes | None:
    """The value of request header ``name`` (lower-case), if sent."""
    for key, value in scope.get("headers") or ():
        if key == name:
            return value
    return None
