"""The inference server's OpenAPI document: what each route accepts and answers, exactly.

Routes and summaries come from FastAPI; this module fills in the rest. ``POST /predict`` takes the scenario
contract's declared request body (``ScenarioContract.request``: the type the contract checks requests with,
for the loaded model and the server's ``Limits``) and answers its declared response, or the error envelope
with the statuses the server gives (400 not JSON, 401 no or wrong token, 413 over a limit, 422 refused by the
declared body, 503 not loaded yet). ``/metrics`` answers Prometheus text. With a token, ``/predict`` and
``/metrics`` carry the bearer security scheme; ``/health``, ``/ready`` and the docs stay open.
Every answer the server gives outside the declared routes and methods (404, 405 with ``Allow``) uses the
error envelope too.

Before the model is loaded the document describes what any model of the scenario may accept (an anomaly
model's value columns are known only once it is loaded); it is kept once the model is ready.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from typing_extensions import TypedDict

from algorithms.base.contracts import Limits, ScenarioContract, ServedModel
from algorithms.base.requests import ANY_OBJECT, REF_TEMPLATE, Declared

BEARER = "bearer"
JSON = "application/json"


class ErrorDetail(TypedDict):
    code: str
    message: str
    details: Any


class ErrorBody(TypedDict):
    """Every answer that is not a 200: ``code`` names the failure, ``details`` says which field or limit."""

    error: ErrorDetail


class Traffic(TypedDict):
    """Versions, not URIs: the stable one, the canary and the percent it answers, the shadow."""

    stable: str | None
    canary: str | None
    weight: int
    shadow: str | None
    routing_header: str | None
    compare_canary: bool


class Health(TypedDict):
    """``model_uri``/``model_version``: the stable model answering now; ``loading_version``: the stable version
    of a traffic being loaded beside it; ``traffic``/``loading_traffic``: the whole traffic applied and loading;
    ``load_error``: why the last load failed (the traffic answering is unchanged)."""

    status: Literal["ok"]
    traffic: Traffic | None
    loading_traffic: Traffic | None
    model_uri: str
    model_version: str | None
    loading_version: str | None
    load_error: str | None
    instance_id: str
    scenario: str | None
    ready: bool


class Readiness(TypedDict):
    ready: bool
    model_uri: str
    model_version: str | None
    load_seconds: float | None
    load_error: str | None


ERROR = Declared(ErrorBody)
HEALTH = Declared(Health)
READINESS = Declared(Readiness)


class Schemas:
    """Collects the components of the document as declared bodies are added."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def of(self, declared: Declared) -> dict[str, Any]:
        schema = dict(declared.json_schema())
        self.components.update(schema.pop("$defs", {}))
        return schema

    def json(self, description: str, declared: Declared, **extra: Any) -> dict[str, Any]:
        return {"description": description, "content": {JSON: {"schema": self.of(declared)}}, **extra}

    def error(self, description: str, **extra: Any) -> dict[str, Any]:
        return {"description": description, "content": {JSON: {"schema": self.ref(ERROR)}}, **extra}

    def ref(self, declared: Declared) -> dict[str, Any]:
        """A named schema (a TypedDict) as a component, referred to by name."""
        schema = self.of(declared)
        name = str(schema["title"])
        self.components[name] = schema
        return {"$ref": REF_TEMPLATE.format(model=name)}


def document(
    app: FastAPI,
    *,
    contract: ScenarioContract | None,
    served: ServedModel | None,
    limits: Limits,
    secured: bool,
) -> dict[str, Any]:
    """The document of ``app``'s routes for ``contract`` serving ``served`` (None: not loaded yet)."""
    doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
    schemas = Schemas()
    request = contract.request(served, limits) if contract is not None else ANY_OBJECT
    answer = contract.response(served) if contract is not None else ANY_OBJECT
    unauthorized = schemas.error(
        "No or wrong 'Authorization: Bearer <token>'",
        headers={"WWW-Authenticate": {"schema": {"type": "string", "const": "Bearer"}}},
    )
    predict = doc["paths"]["/predict"]["post"]
    predict["requestBody"] = {"required": True, "content": {JSON: {"schema": schemas.of(request)}}}
    version = {
        "x-model-version": {"description": "The model version that answered", "schema": {"type": "string"}}
    }
    predict["responses"] = {
        "200": schemas.json("The prediction", answer, headers=version),
        "400": schemas.error("The body is not JSON"),
        "413": schemas.error("Over a MLOPS_PREDICT_* limit (the message names the variable)"),
        "422": schemas.error("Refused by the request schema (details name each field)"),
        "503": schemas.error("The model is not loaded yet"),
    }
    doc["paths"]["/metrics"]["get"]["responses"] = {
        "200": {
            "description": "Prometheus metrics of this server",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    }
    doc["paths"]["/health"]["get"]["responses"] = {"200": schemas.json("Alive", HEALTH)}
    doc["paths"]["/ready"]["get"]["responses"] = {
        "200": schemas.json("The model is loaded and warmed up", READINESS),
        "503": schemas.json("The model is not loaded yet (or failed to load)", READINESS),
    }
    if secured:
        for path, method in (("/predict", "post"), ("/metrics", "get")):
            operation = doc["paths"][path][method]
            operation["security"] = [{BEARER: []}]
            operation["responses"]["401"] = unauthorized
        doc.setdefault("components", {})["securitySchemes"] = {
            BEARER: {"type": "http", "scheme": "bearer", "description": "The serving's token"}
        }
    doc.setdefault("components", {})["schemas"] = dict(sorted(schemas.components.items()))
    return doc
