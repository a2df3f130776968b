"""Inference container entrypoint: ``python -m algorithms.serve --model-uri URI [--model-version N] --host H
--port P [--scenario S]``.

Runs uvicorn with one worker, uvloop and httptools (multi-worker mode leaves Nagle's algorithm on: ~50 ms
stalls on small responses). Environment: ``MLFLOW_TRACKING_URI`` (for ``models:/`` URIs), the
``MLOPS_PREDICT_*`` limits, ``MLOPS_SERVING_TOKEN``, the bearer token callers of /predict and /metrics must
present (the server refuses to start without one unless ``--no-auth`` says so), and
``MLOPS_SERVING_CONTROL_TOKEN``, the platform's token for ``POST /admin/model`` (the endpoint is off without
it), and ``MLOPS_PREDICTION_LOG_*`` (``algorithms.serve.predlog``: off unless enabled). Exits 1 when the first
model fails to load, 2 on bad settings.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import uvicorn

from algorithms.base.contracts import Limits
from algorithms.serve.app import create_app
from algorithms.serve.loading import check_version
from algorithms.serve.predlog import LogSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m algorithms.serve", description="Serve one MLflow pyfunc model."
    )
    parser.add_argument("--model-uri", required=True, help="models:/name/version, runs:/..., or a local path")
    parser.add_argument(
        "--model-version",
        type=check_version,
        default=None,
        help="the version the model is, named in every answer (default: N of models:/name/N)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--scenario", default=None, help="default: read from the model's metadata")
    parser.add_argument("--log-level", default=os.environ.get("MLOPS_LOG_LEVEL", "info"))
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="answer /predict without a token (a local experiment; the platform never passes it)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    try:
        limits = Limits.from_env()
    except ValueError as exc:
        print(f"invalid limit: {exc}", file=sys.stderr)
        return 2
    try:
        log_settings = LogSettings()
    except ValueError as exc:  # pydantic's ValidationError names the variable and the rule
        print(f"invalid prediction log setting: {str(exc)[:500]}", file=sys.stderr)
        return 2
    token = os.environ.get("MLOPS_SERVING_TOKEN") or None
    if token is None and not args.no_auth:
        print(
            "MLOPS_SERVING_TOKEN is not set: refusing to serve /predict to anyone who asks "
            "(set it, or pass --no-auth for a local experiment)",
            file=sys.stderr,
        )
        return 2
    server: uvicorn.Server | None = None
    failed: list[BaseException] = []

    def stop(exc: BaseException) -> None:
        failed.append(exc)
        if server is not None:
            server.should_exit = True

    app = create_app(
        args.model_uri,
        scenario=args.scenario,
        limits=limits,
        on_load_failure=stop,
        token=token,
        model_version=args.model_version,
        control_token=os.environ.get("MLOPS_SERVING_CONTROL_TOKEN") or None,
        prediction_log=log_settings,
    )
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        # Nothing here reads the client address: skip uvicorn's X-Forwarded-* rewriting of every request.
        proxy_headers=False,
        server_header=False,
        log_level=args.log_level.lower(),
    )
    server = uvicorn.Server(config)
    server.run()
    if failed:
        print(f"model {args.model_uri} failed to load: {failed[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
