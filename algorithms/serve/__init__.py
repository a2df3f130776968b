"""The inference server (``python -m algorithms.serve``): an ASGI app serving an MLflow pyfunc model
(``algorithms.serve.app``), with a canary and a shadow beside it (``algorithms.serve.traffic``).

Nothing is imported here: the platform reads ``algorithms.serve.compare`` (the comparison of two answers) without
loading the server."""
