"""Shared by the API tests: the operations of the live server's OpenAPI document, and requests to them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

PUBLIC = {"/api/v1/health", "/api/v1/auth/token"}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    @property
    def admin_only(self) -> bool:
        return bool(self.spec.get("x-admin-only"))

    def url(self, base: str, values: dict[str, Any]) -> str:
        return base + re.sub(r"{(\w+)}", lambda m: str(values[m.group(1)]), self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def operations(document: dict[str, Any]) -> list[Operation]:
    return [
        Operation(method.upper(), path, spec)
        for path, methods in document["paths"].items()
        for method, spec in methods.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


@pytest.fixture
def api_operations(api_server: Any) -> list[Operation]:
    document = httpx.get(f"{api_server.url}/api/v1/openapi.json", timeout=30).json()
    return operations(document)
