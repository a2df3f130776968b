"""Request bodies with a bounded cost, checked before any endpoint runs (a pure ASGI middleware).

- JSON endpoints: the body must be ``application/json`` (415 otherwise) and at most ``MLOPS_API_MAX_JSON_BYTES``
  (413), whether it declares its length or arrives chunked (counted as it streams).
- Streaming endpoints (``STREAMING``: uploads) are left alone here: they count their bytes against the
  dataset limits themselves while passing them on to the object store. So does predict, bounded by
  ``MLOPS_PREDICT_MAX_BODY_BYTES`` (an image request is far larger than other JSON bodies; ``api.predict_proxy``).
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import CODES

# Paths whose bodies are read and bounded by the endpoint itself.
STREAMING: list[re.Pattern[str]] = [
    re.compile(r"^/api/v1/datasets/[^/]+/entries$"),
    re.compile(r"^/api/v1/servings/[^/]+/predict$"),
]
_WITH_BODY = {"POST", "PUT", "PATCH"}


async def _send_error(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": {"code": CODES[status], "message": message, "status": status}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimits:
    def __init__(self, app: ASGIApp, *, max_json_bytes: int) -> None:
        self.app = app
        self.max = max_json_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if any(p.match(path) for p in STREAMING):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max):
            await _send_error(send, 413, f"request body larger than {self.max} bytes")
            return
        has_body = (length is not None and int(length) > 0) or "transfer-encoding" in headers
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if has_body and ctype != "application/json":
            await _send_error(
                send, 415, f"send the body as application/json (got {ctype[:60] or 'no content type'})"
            )
            return
        # Read the (bounded) body here and replay it: a chunked body over the limit is refused before the
        # endpoint sees any of it.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max:
                await _send_error(send, 413, f"request body larger than {self.max} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
