"""The API application: `/api/v1` routers (``api.routes.ROUTERS``), one error shape (``api.errors``), bounded
request bodies (``api.limits``), the OpenAPI document at ``/api/v1/openapi.json`` and its docs page at
``/api/v1/docs``.

Every route needs a bearer token (``api.deps.ActorDep``) except health, the token exchange, and the OpenAPI
document and its page, which describe the API and hold no data (tests/api/test_auth_matrix.py checks
every route of the document against this list).
"""

from __future__ import annotations

import importlib

from fastapi import FastAPI

from api import errors
from api.limits import BodyLimits
from api.routes import ROUTERS
from infra.settings import get_settings

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
        description="The platform's HTTP API: datasets, releases, training jobs, servings and administration, "
        'with bearer tokens. Errors are `{"error": {"code", "message", "status"}}`.',
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    errors.install(app)
    for name in ROUTERS:
        module = importlib.import_module(f"api.routes.{name}")
        app.include_router(module.router, prefix=PREFIX)
    app.add_middleware(BodyLimits, max_json_bytes=get_settings().api.max_json_bytes)
    return app
