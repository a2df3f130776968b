"""One JSON shape for every error of the API, with a stable code a client can branch on.

``{"error": {"code": "not_found", "message": "dataset 7 not found", "status": 404}}``. The code says the
kind of failure (``CODES``); the message is meant for a person and quotes input only as a short excerpt
(``catalog.errors.quote``/``shorten``). Catalog errors, FastAPI's request validation, Starlette's HTTP errors
and anything unexpected (500, without internals) all end here.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from catalog.errors import (
    AuthenticationError,
    CatalogError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    ValidationError,
    shorten,
)

log = logging.getLogger("mlops.api")

# HTTP status -> the code for it when nothing more specific is known.
CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    502: "upstream_error",
    503: "unavailable",
    504: "upstream_timeout",
}


class ApiError(Exception):
    """An error the API raises itself (not a catalog error): status, code and message."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "error")
        self.message = message


def error_response(
    status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {
        "error": {
            "code": code or CODES.get(status, "error"),
            "message": shorten(message, 500),
            "status": status,
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


UNAUTHENTICATED_HEADERS = {"WWW-Authenticate": 'Bearer realm="mlops-lite"'}

# Most specific first: AuthenticationError is a PermissionDeniedError.
_CATALOG: list[tuple[type[CatalogError], int, str]] = [
    (NotFoundError, 404, "not_found"),
    (AuthenticationError, 401, "unauthenticated"),
    (PermissionDeniedError, 403, "permission_denied"),
    (QuotaExceededError, 409, "quota_exceeded"),
    (ConflictError, 409, "conflict"),
    (ValidationError, 422, "validation_error"),
]


def catalog_status(exc: CatalogError) -> tuple[int, str]:
    for kind, status, code in _CATALOG:
        if isinstance(exc, kind):
            return status, code
    return 400, "bad_request"


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


def validation_message(exc: RequestValidationError) -> str:
    """The first few problems, each as ``where: what`` (never the rejected input itself)."""
    problems = []
    for error in exc.errors()[:5]:
        where = _location(tuple(error.get("loc", ())))
        kind = error.get("type", "")
        what = "unknown field" if kind == "extra_forbidden" else str(error.get("msg", "invalid"))
        problems.append(f"{where}: {what}")
    more = len(exc.errors()) - len(problems)
    return "invalid request: " + "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


def set_allowed_methods(app: FastAPI, routes: list[tuple[str, set[str]]]) -> None:
    """Remember each route's path pattern (its regex, convertors included) and methods, for the ``Allow``
    header of 405s."""
    app.state.allowed_methods = [
        (re.compile(pattern), {m.upper() for m in methods}) for pattern, methods in routes
    ]


def allowed_methods(app: FastAPI, path: str) -> set[str]:
    found: set[str] = set()
    for pattern, methods in getattr(app.state, "allowed_methods", []):
        if pattern.match(path):
            found |= methods
    return found


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        headers = UNAUTHENTICATED_HEADERS if exc.status == 401 else None
        return error_response(exc.status, exc.message, exc.code, headers)

    @app.exception_handler(CatalogError)
    async def _catalog(_: Request, exc: CatalogError) -> JSONResponse:
        status, code = catalog_status(exc)
        return error_response(status, str(exc), code, UNAUTHENTICATED_HEADERS if status == 401 else None)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, validation_message(exc), "validation_error")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else CODES.get(exc.status_code, "error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 404 and message == "Not Found":
            message = f"nothing at {request.method[:10]} {request.url.path[:120]}"
        if exc.status_code == 400 and message == "There was an error parsing the body":
            message = "the request body is not valid UTF-8 JSON"
        if exc.status_code == 405:
            # Starlette names only the methods of the one route it tried; a path has several routes.
            allowed = allowed_methods(request.app, request.url.path)
            if allowed:
                headers["Allow"] = ", ".join(sorted(allowed))
            message = f"{request.method[:10]} is not allowed here; allowed: {headers.get('Allow', 'none')}"
        return error_response(exc.status_code, message, None, headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error; the API server's log has the details", "internal_error")
