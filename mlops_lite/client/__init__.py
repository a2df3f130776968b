"""The Python SDK of the platform API: ``Client(server, token)`` with one attribute per resource.

    from mlops_lite.client import Client

    with Client("http://mlops.example:8700", token="mlops_p_...") as client:
        ds = client.datasets.create("cpu", "anomaly_detection")
        for d in client.datasets.list(search="cpu"):
            print(d.id, d.name)

Sync, typed (answers are the pydantic models of ``mlops_lite.schemas``), on httpx. Errors are
``mlops_lite.client.errors`` classes.
"""

from mlops_lite.client.client import Client
from mlops_lite.client.errors import (
    Conflict,
    InvalidRequest,
    MlopsError,
    NotFound,
    PermissionDenied,
    TimedOut,
    Unauthenticated,
    Unavailable,
    Unreachable,
)

__all__ = [
    "Client",
    "Conflict",
    "InvalidRequest",
    "MlopsError",
    "NotFound",
    "PermissionDenied",
    "TimedOut",
    "Unauthenticated",
    "Unavailable",
    "Unreachable",
]
