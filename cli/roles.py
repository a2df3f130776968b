"""`mlops roles ...`: the roles a membership may have. Everyone lists them (built-in and custom, with their
permissions); administrators create, change and delete custom ones, through the platform API.

Each command imports the SDK in its body (see cli.main).
"""

from __future__ import annotations

import typer

from cli.common import JsonOpt, client, emit, handle_errors, pick

roles = typer.Typer(help="Roles: what a member may do on a team (and its sub-teams).", no_args_is_help=True)
ROLE_COLS = ["name", "builtin", "includes_children", "permissions", "description"]

NameArg = typer.Argument(..., help="Role name (lowercase letters, digits, '_' or '-').")
PermissionsOpt = typer.Option(
    None,
    "--permission",
    "-p",
    help="A permission of the role, e.g. datasets:read or jobs:* (repeatable; `mlops roles list` shows the "
    "built-in roles' ones).",
)
DescriptionOpt = typer.Option(None, "--description", help="What the role is for.")


@roles.command("list")
@handle_errors
def role_list(as_json: bool = JsonOpt) -> None:
    """The built-in roles, then the custom ones, with their permissions (in full with --json)."""
    with client() as api:
        rows = api.roles.list()
    emit(pick(rows, ROLE_COLS), as_json=as_json, columns=ROLE_COLS)


@roles.command("create")
@handle_errors
def role_create(
    name: str = NameArg,
    permission: list[str] | None = PermissionsOpt,
    include_children: bool = typer.Option(
        False, "--include-children", help="Its permissions reach the sub-teams of the member's team."
    ),
    description: str | None = DescriptionOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Define a custom role (administrators)."""
    with client() as api:
        row = api.roles.create(
            name, permission or [], includes_children=include_children, description=description or ""
        )
    emit(pick([row], ROLE_COLS)[0], as_json=as_json)


@roles.command("update")
@handle_errors
def role_update(
    name: str = NameArg,
    permission: list[str] | None = typer.Option(
        None, "--permission", "-p", help="The role's permissions from now on (repeatable; replaces them all)."
    ),
    include_children: bool | None = typer.Option(
        None, "--include-children/--no-include-children", help="Whether its permissions reach sub-teams."
    ),
    description: str | None = DescriptionOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Change a custom role (administrators); what is not given stays. Members holding it get the change at
    their next request."""
    with client() as api:
        row = api.roles.update(
            name, permissions=permission or None, includes_children=include_children, description=description
        )
    emit(pick([row], ROLE_COLS)[0], as_json=as_json)


@roles.command("delete")
@handle_errors
def role_delete(name: str = NameArg) -> None:
    """Delete a custom role (administrators); refused while a membership holds it."""
    with client() as api:
        api.roles.delete(name)
    typer.echo(f"role {name} deleted")
