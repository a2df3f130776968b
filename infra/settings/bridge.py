"""Hand the platform's settings to the libraries that read their own environment variables.

Prefect reads ``PREFECT_API_URL`` when it is imported, so entry points (CLI, dashboard, the deployment
server) call ``export_library_env()`` before importing anything that imports Prefect.
"""

from __future__ import annotations

import os

from infra.settings import Settings, get_settings

OFFLINE = {
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # Without a reachable server Prefect would quietly start a temporary one of its own; the platform wants
    # the error instead, so a run never lands where the Prefect UI cannot show it.
    "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "false",
}


def library_env(settings: Settings | None = None) -> dict[str, str]:
    s = settings or get_settings()
    return {
        **OFFLINE,
        "PREFECT_API_URL": s.prefect.api_url,
        "PREFECT_API_AUTH_STRING": s.prefect.auth_string,
        "MLFLOW_TRACKING_URI": s.mlflow.uri,
        "MLFLOW_TRACKING_USERNAME": s.mlflow.username,
        "MLFLOW_TRACKING_PASSWORD": s.mlflow.password,
        "MLFLOW_S3_ENDPOINT_URL": s.s3.endpoint,
        "AWS_ACCESS_KEY_ID": s.s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s.s3.secret_key,
    }


def export_library_env(settings: Settings | None = None, *, override: bool = False) -> None:
    """Set the variables that are not set yet (all of them with ``override``)."""
    for key, value in library_env(settings).items():
        if override or key not in os.environ:
            os.environ[key] = value
