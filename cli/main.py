"""The `mlops` command: every main action of the dashboard, scriptable, with `--json` on reads.

Quick to start: the modules that build the command tree (this one, ``cli.common`` and every command module)
import only typer, the standard library and the platform's light modules (``catalog.errors``,
``flows.outcomes``) at module level; each command imports what it uses in its body. So `mlops --help` loads
no catalog, settings, Prefect or MLflow, and `mlops datasets list` only the SDK
(``tests/cli/test_cli_startup.py`` guards it; ``benchmarks/cli.py`` times it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from cli import (
    admin,
    auth,
    custom_jobs,
    datasets,
    demo,
    models,
    platform,
    quotas,
    roles,
    rollouts,
    serving,
    tokens,
    training,
)

app = typer.Typer(
    name="mlops",
    help="mlops-lite: datasets → training → serving, on Prefect, MLflow and S3.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

COMMANDS: dict[str, Callable[..., Any]] = {
    "init": platform.init_command,
    "up": platform.up_command,
    "down": platform.down_command,
    "status": platform.status_command,
    "login": auth.login_command,
    "logout": auth.logout_command,
    "whoami": auth.whoami_command,
    "predict": serving.predict_command,
    "demo": demo.demo_command,
}
GROUPS: dict[str, typer.Typer] = {
    "teams": admin.teams,
    "users": admin.users,
    "roles": roles.roles,
    "algorithms": admin.algorithms,
    "datasets": datasets.app,
    "jobs": training.app,
    "models": models.app,
    "servings": serving.app,
    "tokens": tokens.tokens,
    "service-accounts": tokens.service_accounts,
}
for _name, _command in COMMANDS.items():
    app.command(_name)(_command)
for _name, _group in GROUPS.items():
    app.add_typer(_group, name=_name)
# Commands of a group that live in a module of their own.
training.app.command("create-custom")(custom_jobs.create_custom)
admin.teams.command("usage")(quotas.usage)
admin.teams.command("set-quota")(quotas.set_quota)
for _name, _command in rollouts.COMMANDS.items():
    serving.app.command(_name)(_command)


@app.callback()
def _before_every_command(
    server: str | None = typer.Option(
        None,
        "--server",
        envvar="MLOPS_SERVER",
        help="The platform API to talk to (e.g. http://mlops.example:8700). Default: the server of the last "
        "`mlops login`, else this host's platform.",
    ),
) -> None:
    # Runs before any command's body (not for --help). Only cli.platform's commands run the platform here and
    # export its addresses for the libraries (infra.settings.bridge); the others talk to the API and read no
    # platform settings, which on a user's machine would create an install's secrets.
    from cli.common import set_server

    set_server(server)


def main() -> None:
    app(prog_name="mlops")


if __name__ == "__main__":
    main()
