"""The `mlops` command: every main action of the dashboard, scriptable, with `--json` on reads."""

from __future__ import annotations

from infra.settings.bridge import export_library_env

# Before Prefect is imported (it reads PREFECT_API_URL at import): the platform's addresses, telemetry off.
export_library_env()

import typer

from cli import admin, auth, datasets, demo, platform, serving, training

app = typer.Typer(name="mlops", help="mlops-lite: datasets → training → serving, on Prefect, MLflow and S3.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
app.command("init")(platform.init_command)
app.command("up")(platform.up_command)
app.command("down")(platform.down_command)
app.command("status")(platform.status_command)
app.command("login")(auth.login_command)
app.command("logout")(auth.logout_command)
app.command("whoami")(auth.whoami_command)
app.add_typer(admin.teams, name="teams")
app.add_typer(admin.users, name="users")
app.add_typer(admin.algorithms, name="algorithms")
app.add_typer(datasets.app, name="datasets")
app.add_typer(training.app, name="jobs")
app.add_typer(serving.app, name="servings")
app.command("predict")(serving.predict_command)
app.command("demo")(demo.demo_command)


def main() -> None:
    app(prog_name="mlops")


if __name__ == "__main__":
    main()
