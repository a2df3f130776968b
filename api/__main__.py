"""Serve the API: ``python -m api`` (component ``api`` of `mlops up`, or the API container's command).

Before serving, a fresh operator token for the platform's admin is written to ``operator_token_file`` (mode
0600 in the data directory): the local CLI of the platform's owner acts with it when no other token is
configured, as it acted as the operator before there was an API (docs/architecture.md, "Who may call what").
Every start replaces it and revokes the previous one. ``--no-operator-token`` skips it (a production API
container has no local CLI beside it).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from infra.settings import Settings, get_settings


def operator_token_file(settings: Settings) -> Path:
    return settings.platform.data_dir / "operator-token"


def write_operator_token(settings: Settings) -> Path:
    from catalog.db import session_scope
    from catalog.services import tokens as tokens_service

    with session_scope() as session:
        token = tokens_service.replace_operator_token(
            session, username=settings.platform.admin_username, days=settings.api.operator_token_days
        )
    path = operator_token_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    os.replace(tmp, path)
    return path


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m api", description="Serve the mlops-lite API.")
    parser.add_argument("--no-operator-token", action="store_true", help="Do not write the operator token.")
    args = parser.parse_args()
    settings = get_settings()
    if not args.no_operator_token:
        write_operator_token(settings)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=settings.platform.host,
        port=settings.api.port,
        workers=settings.api.workers,
        log_level="info",
        # Access lines carry paths and status only; a token travels in a header uvicorn does not log.
        access_log=True,
        proxy_headers=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
