"""CLI tests call the app in-process with typer's CliRunner, which swaps sys.stdout and sys.stderr during each
call. Prefect configures its logging when ``prefect.main`` is first imported, binding its console handler to
the sys.stderr of that moment (its logging config says ``ext://sys.stderr``), and the CLI imports Prefect only
in the bodies of commands that launch flows (cli.main): first imported inside a CliRunner call, Prefect would
write its logs into that call's output (the tests parse it as JSON) and later into the runner's closed stream.
A real `mlops` process imports Prefect with its own terminal's streams; here it is imported before any call,
with pytest's."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _prefect_logs_outside_cli_runner_calls() -> None:
    import prefect.main  # noqa: F401
