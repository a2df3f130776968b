"""The inference server (``python -m algorithms.serve``): one ASGI app serving one MLflow pyfunc model."""

from algorithms.serve.app import create_app

__all__ = ["create_app"]
