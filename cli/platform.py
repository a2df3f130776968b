"""`mlops init`, `up`, `down`, `status`: the embedded platform's lifecycle.

Each command imports the settings, the catalog or the supervisor in its body (see cli.main).
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import TYPE_CHECKING

import typer

from cli.common import JsonOpt, emit, fail, handle_errors

if TYPE_CHECKING:
    from infra.settings import Settings


@handle_errors
def init_command(as_json: bool = JsonOpt) -> None:
    """Migrate the catalog, import the algorithm presets, create the first team and the admin."""
    from infra.settings.bridge import export_library_env

    export_library_env()  # before anything imports Prefect (it reads PREFECT_API_URL at import)
    from catalog.services.init import initialize

    report = initialize(
        admin_password=os.environ.get("MLOPS_ADMIN_PASSWORD"),
        echo=(lambda *_a, **_k: None) if as_json else typer.echo,
    )
    if as_json:
        emit(report, as_json=True)


def ready_lines(settings: Settings, components: list[str] | None) -> list[str]:
    """What `mlops up` prints once everything is healthy: how to sign in, where data lives, how to get sample
    data (when the dashboard runs), how to stop."""
    from infra.settings.secrets import secrets_path

    login = (
        f"\n  Login:        {settings.platform.admin_username} "
        "(password: MLOPS_ADMIN_PASSWORD, or the one `mlops init` printed)"
    )
    lines = [login, f"  Data dir:     {settings.platform.data_dir}"]
    if components is None or "api" in components:
        lines.append(
            f"  API:          {settings.api.url(settings.platform.host)}/api/v1 (docs at /api/v1/docs); from "
            "another machine: `mlops login --server URL --user NAME`, or a token from `mlops tokens create`"
        )
    lines.append(
        f"  Credentials:  every server asks who is calling; the MLflow UI's user is "
        f"{settings.mlflow.username!r}, the Prefect UI asks for its auth string: both in "
        f"{secrets_path(settings.platform.data_dir)} (mode 0600), unless set by MLOPS_* variables"
    )
    if components is None or "dashboard" in components:
        lines.append(
            "  Sample data:  `./mlops demo` in another shell (`mlops demo` once installed) loads a dataset "
            "for every scenario, ready to train in the dashboard"
        )
    lines.append("  Stop with Ctrl-C or `mlops down`.\n")
    return lines


@handle_errors
def up_command(
    detach: bool = typer.Option(
        False, "--detach", "-d", help="Start and return instead of staying in the foreground."
    ),
    only: list[str] = typer.Option(None, "--only", help="Start only these components (repeatable)."),
) -> None:
    """Start the embedded platform on 127.0.0.1; Ctrl-C or `mlops down` stops it."""
    from infra.settings.bridge import export_library_env

    export_library_env()  # before anything imports Prefect (it reads PREFECT_API_URL at import)
    from infra.embedded import supervisor
    from infra.settings import get_settings

    settings = get_settings()
    components = list(only) if only else None

    def show_login(_handle: object) -> None:
        for line in ready_lines(settings, components):
            typer.echo(line)

    if detach:
        handle = supervisor.up(settings, components=components, echo=typer.echo)
        show_login(handle)
        return
    code = supervisor.run_foreground(settings, components=components, echo=typer.echo, on_ready=show_login)
    raise typer.Exit(code)


@handle_errors
def down_command(
    keep_workloads: bool = typer.Option(
        False,
        "--keep-workloads",
        help="Leave training and serving processes running; the next `mlops up` finds them again.",
    ),
) -> None:
    """Stop every component started by `mlops up`, and the training and serving processes it launched."""
    from infra.settings.bridge import export_library_env

    export_library_env()  # before anything imports Prefect (it reads PREFECT_API_URL at import)
    from infra.embedded import supervisor
    from infra.settings import get_settings

    if not supervisor.down(get_settings(), echo=typer.echo, keep_workloads=keep_workloads):
        typer.echo("the platform is not running")


@handle_errors
def status_command(as_json: bool = JsonOpt) -> None:
    """Each component: pid, alive, healthy, URL."""
    from infra.settings.bridge import export_library_env

    export_library_env()  # before anything imports Prefect (it reads PREFECT_API_URL at import)
    from infra.embedded import supervisor
    from infra.settings import get_settings

    rows = supervisor.status(get_settings())
    if not rows:
        fail("the platform is not running", code=3)
    emit([asdict(r) for r in rows], as_json=as_json)
    if not all(r.healthy for r in rows):
        raise typer.Exit(3)
