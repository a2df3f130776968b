"""Quality benchmarks of the built-in algorithms on public data, each printed beside published figures.

Run from the repository root, e.g. ``.venv/bin/python -m benchmarks.quality.pelt [--data PATH] [--json]``;
``--data`` defaults to ``../shared/data/<folder>``.
"""
