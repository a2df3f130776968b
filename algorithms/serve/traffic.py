"""What an inference server is told to serve, and which version answers a request.

A ``Target`` names the *stable* version, optionally a *canary* with the percentage of requests it answers
(0-100) and a *shadow* that answers copies of live requests (never returned), the request header whose value
makes the choice sticky (``routing_header``: a user or device id), and whether the stable version answers a
copy of each canary request to compare their outputs (``compare_canary``). The platform sends it to
``POST /admin/traffic`` (``TrafficRequest``, the body, checked by pydantic); the server loads the versions it
lacks and then applies the whole target at once (``algorithms.serve.loading``).

Routing is per request and costs one random draw: ``canary_share(weight)`` against ``random()``; with a routing
header, the key's bucket (``key_bucket``: CRC-32 of the value, 0-9999) decides instead, so a key always goes to
the same version at a given weight, and a key that went to the canary still does when the weight grows.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

BUCKETS = 10_000
# A version goes into a response header: digits, letters and . _ - only (never CR/LF or anything to inject).
VERSION_PATTERN = r"^[A-Za-z0-9._-]{1,40}$"
HEADER_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"


@dataclass(frozen=True, slots=True)
class ModelRef:
    uri: str
    version: str | None


@dataclass(frozen=True, slots=True)
class Target:
    stable: ModelRef
    canary: ModelRef | None = None
    weight: int = 0
    shadow: ModelRef | None = None
    routing_header: str | None = None
    compare_canary: bool = True

    def refs(self) -> list[ModelRef]:
        """The versions the target needs loaded, each once."""
        out: list[ModelRef] = []
        for ref in (self.stable, self.canary, self.shadow):
            if ref is not None and ref not in out:
                out.append(ref)
        return out

    def describe(self) -> dict[str, Any]:
        """The target as /health shows it (versions, not URIs)."""
        return {
            "stable": self.stable.version,
            "canary": self.canary.version if self.canary else None,
            "weight": self.weight,
            "shadow": self.shadow.version if self.shadow else None,
            "routing_header": self.routing_header,
            "compare_canary": self.compare_canary,
        }


class ModelRefBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_uri: str = Field(min_length=1, max_length=1000, description="models:/<name>/<N>")
    version: str = Field(pattern=VERSION_PATTERN, description="the version every answer names")

    def ref(self) -> ModelRef:
        return ModelRef(self.model_uri, self.version)


class TrafficRequest(BaseModel):
    """The body of ``POST /admin/traffic``."""

    model_config = ConfigDict(extra="forbid")

    stable: ModelRefBody
    canary: ModelRefBody | None = None
    weight: int = Field(0, ge=0, le=100, description="percent of requests the canary answers")
    shadow: ModelRefBody | None = None
    routing_header: str | None = Field(
        None, pattern=HEADER_PATTERN, description="lower-case header whose value makes the choice sticky"
    )
    compare_canary: bool = Field(True, description="the stable version answers a copy of each canary request")

    @model_validator(mode="after")
    def _consistent(self) -> TrafficRequest:
        if self.canary is None and self.weight:
            raise ValueError("a weight needs a canary")
        if self.canary is not None and self.canary.version == self.stable.version:
            raise ValueError("the canary is the stable version")
        if self.shadow is not None and self.shadow.version in (
            self.stable.version,
            self.canary.version if self.canary else None,
        ):
            raise ValueError("the shadow version already answers live requests")
        return self

    def target(self) -> Target:
        return Target(
            stable=self.stable.ref(),
            canary=self.canary.ref() if self.canary else None,
            weight=self.weight,
            shadow=self.shadow.ref() if self.shadow else None,
            routing_header=self.routing_header,
            compare_canary=self.compare_canary,
        )


def key_bucket(key: bytes) -> int:
    """The sticky bucket (0..BUCKETS-1) of a routing key."""
    return zlib.crc32(key) % BUCKETS


def canary_share(weight: int) -> float:
    """The fraction of requests (and of key buckets, times BUCKETS) the canary answers at ``weight``."""
    return weight / 100.0


def sticky_to_canary(key: bytes, weight: int) -> bool:
    return key_bucket(key) < weight * (BUCKETS // 100)
