"""The API application: `/api/v1` routers (``api.routes.ROUTERS``), one error shape (``api.errors``), bounded
request bodies (``api.limits``), the OpenAPI document at ``/api/v1/openapi.json`` and its docs page at
``/api/v1/docs``.

Every route needs a bearer token (``api.deps.ActorDep``) except health, the token exchange, and the OpenAPI
document and its page, which describe the API and hold no data (tests/api/test_auth_matrix.py checks
every route of the document against this list).
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from api import errors
from api.deps import admin_actor
from api.limits import BodyLimits
from api.routes import ROUTERS
from infra.settings import get_settings
from mlops_lite.schemas.common import ErrorBody

PREFIX = "/api/v1"
VERSION = "1"
# Paths answered without a token (see the module docstring).
PUBLIC_PATHS = frozenset(
    {f"{PREFIX}/health", f"{PREFIX}/auth/token", f"{PREFIX}/openapi.json", f"{PREFIX}/docs"}
)


def create_app() -> FastAPI:
    app = FastAPI(
        title="mlops-lite API",
        version=VERSION,
        description="The platform's HTTP API: datasets, releases, training jobs, models, servings and "
        'administration, with bearer tokens. Errors are `{"error": {"code", "message", "status"}}`.',
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        # FastAPI's OpenTelemetry instrumentation: off (nothing to export to, and it costs every request).
        telemetry={
            "tracing": False,
            "metrics": False,
            "logs": False,
            "operation_spans": False,
            "auto_configure": False,
        },
    )
    errors.install(app)
    patterns: list[tuple[str, set[str]]] = []
    for name in ROUTERS:
        module = importlib.import_module(f"api.routes.{name}")
        for route in module.router.routes:
            if isinstance(route, APIRoute):
                document_errors(route, PREFIX + route.path_format)
                patterns.append(
                    ("^" + re.escape(PREFIX) + route.path_regex.pattern.lstrip("^"), route.methods)
                )
        app.include_router(module.router, prefix=PREFIX)
    app.add_middleware(BodyLimits, max_json_bytes=get_settings().api.max_json_bytes)
    app.openapi = lambda: with_bearer_security(app)  # type: ignore[method-assign]
    errors.set_allowed_methods(app, patterns)
    return app


def with_bearer_security(app: FastAPI) -> dict[str, Any]:
    """The generated document, with the bearer scheme declared and required by every non-public operation (so
    the docs page's "Authorize" button and generated clients send the token)."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        document.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "A token of the platform (mlops_…)"}
        }
        for path, operations in document["paths"].items():
            if path not in PUBLIC_PATHS:
                for operation in operations.values():
                    operation["security"] = [{"bearer": []}]
        app.openapi_schema = document
    return app.openapi_schema


def document_errors(route: APIRoute, path: str) -> None:
    """Declare in the OpenAPI document the error answers a route can give, all in the one error shape (a
    client, and the fuzzer of tests/api/test_fuzz.py, hold the server to them)."""
    statuses = {500: "internal error"}
    if path == f"{PREFIX}/auth/token":
        statuses[401] = "wrong username or password, or the account is locked"
    if path not in PUBLIC_PATHS:
        statuses |= {
            401: "no token, or an invalid, expired or revoked one",
            403: "not allowed for this caller",
        }
    if route.dependant.path_params or route.dependant.query_params or route.body_field is not None:
        statuses[422] = "invalid request"
    if route.dependant.path_params or route.body_field is not None or route.dependant.query_params:
        statuses[404] = "not found (or not visible to the caller: the same answer)"
    if route.methods & {"POST", "PUT", "PATCH", "DELETE"}:
        statuses |= {409: "conflicts with the current state", 503: "a platform server did not answer"}
        statuses |= {413: "request body too large", 415: "body is not application/json"}
        if route.body_field is not None:
            statuses[400] = "the body is not UTF-8 JSON"
    elif route.dependant.path_params:
        statuses[503] = "a platform server did not answer"
    for status, description in statuses.items():
        route.responses.setdefault(status, {"model": ErrorBody, "description": description})
    if _depends_on(route.dependant, admin_actor):
        # Read by tests/api/test_auth_matrix.py: every administrators-only operation refuses a member (403).
        route.openapi_extra = {**(route.openapi_extra or {}), "x-admin-only": True}


def _depends_on(dependant: Any, call: Any) -> bool:
    return any(d.call is call or _depends_on(d, call) for d in dependant.dependencies)
