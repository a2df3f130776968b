"""`mlops teams|users|algorithms ...`: organizations, accounts and the algorithm catalog.

Each command imports the catalog in its body (see cli.main).
"""

from __future__ import annotations

import getpass

import typer

from cli.common import JsonOpt, UserOpt, emit, handle_errors, pick, resolve_actor

teams = typer.Typer(help="Teams (organizations).", no_args_is_help=True)
users = typer.Typer(help="Users and memberships.", no_args_is_help=True)
algorithms = typer.Typer(help="The algorithm catalog.", no_args_is_help=True)
ALGO_COLS = ["id", "scenario", "name", "display_name", "enabled", "image"]

ScenarioArg = typer.Argument(..., help="Scenario, e.g. anomaly_detection.")
AlgorithmArg = typer.Argument(..., help="Algorithm name, e.g. ECOD.")


@teams.command("create")
@handle_errors
def team_create(
    name: str = typer.Argument(..., help="Team name, unique."),
    description: str = typer.Option("", "--description", help="Free text shown with the team."),
    user: str | None = UserOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create a team (administrators only)."""
    from catalog.db import session_scope
    from catalog.services import teams as team_svc

    actor, _ = resolve_actor(user)
    with session_scope() as session:
        team = team_svc.create_team(session, actor=actor, name=name, description=description)
    emit(pick([team], ["id", "name", "description"])[0], as_json=as_json)


@teams.command("list")
@handle_errors
def team_list(user: str | None = UserOpt, as_json: bool = JsonOpt) -> None:
    """The teams you belong to (every team for administrators)."""
    from catalog.db import session_scope
    from catalog.services import teams as team_svc

    actor, _ = resolve_actor(user)
    with session_scope() as session:
        rows = team_svc.list_teams(session, actor=actor)
    emit(pick(rows, ["id", "name", "description"]), as_json=as_json)


@users.command("create")
@handle_errors
def user_create(
    username: str = typer.Argument(..., help="Login of the new user."),
    password: str | None = typer.Option(None, help="Prompted for when omitted."),
    superuser: bool = typer.Option(
        False, "--superuser/--no-superuser", help="Make the user an administrator."
    ),
    team: list[str] = typer.Option(None, "--team", help="Team name (repeatable)."),
    user: str | None = UserOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create a user account, optionally a member of teams (administrators only)."""
    from catalog.db import session_scope
    from catalog.services import teams as team_svc

    actor, _ = resolve_actor(user)
    password = password or getpass.getpass(f"password for {username}: ")
    with session_scope() as session:
        created = team_svc.create_user(
            session, actor=actor, username=username, password=password, is_superuser=superuser
        )
        for name in team or []:
            team_row = team_svc.get_team(session, name=name)
            team_svc.add_member(session, actor=actor, user_id=created.id, team_id=team_row.id)
    emit(pick([created], ["id", "username", "is_superuser"])[0], as_json=as_json)


@users.command("list")
@handle_errors
def user_list(user: str | None = UserOpt, as_json: bool = JsonOpt) -> None:
    """Every user account: login, administrator or not, active or not."""
    from catalog.db import session_scope
    from catalog.services import teams as team_svc

    actor, _ = resolve_actor(user)
    with session_scope() as session:
        rows = team_svc.list_users(session, actor=actor)
    emit(pick(rows, ["id", "username", "is_superuser", "is_active"]), as_json=as_json)


@users.command("add-to-team")
@handle_errors
def user_add(
    username: str = typer.Argument(..., help="Login of the user to add."),
    team: str = typer.Argument(..., help="Team name."),
    role: str = typer.Option("member", "--role", help="member, or admin (may manage the team's members)."),
    user: str | None = UserOpt,
) -> None:
    """Make a user a member of a team (a member already gets the new role)."""
    from catalog.db import session_scope
    from catalog.services import teams as team_svc

    actor, _ = resolve_actor(user)
    with session_scope() as session:
        target = team_svc.get_user(session, username=username)
        team_row = team_svc.get_team(session, name=team)
        team_svc.add_member(session, actor=actor, user_id=target.id, team_id=team_row.id, role=role)
    typer.echo(f"{username} is now a {role} of {team}")


@algorithms.command("list")
@handle_errors
def algo_list(
    scenario: str | None = typer.Option(None, "--scenario", "-s", help="Only this scenario's algorithms."),
    as_json: bool = JsonOpt,
) -> None:
    """The algorithms of every scenario, enabled or not."""
    from catalog.db import session_scope
    from catalog.services import algorithms as algo_svc

    with session_scope() as session:
        rows = algo_svc.list_algorithms(session, scenario=scenario)
    emit(pick(rows, ALGO_COLS), as_json=as_json)


@algorithms.command("show")
@handle_errors
def algo_show(scenario: str = ScenarioArg, name: str = AlgorithmArg, as_json: bool = JsonOpt) -> None:
    """An algorithm in full: its parameters' form, defaults and search space."""
    from catalog.db import session_scope
    from catalog.services import algorithms as algo_svc

    with session_scope() as session:
        row = algo_svc.get_algorithm(session, scenario=scenario, name=name)
    emit(row.model_dump(), as_json=as_json)


def _set(scenario: str, name: str, enabled: bool, user: str | None, as_json: bool) -> None:
    from catalog.db import session_scope
    from catalog.services import algorithms as algo_svc

    actor, _ = resolve_actor(user)
    with session_scope() as session:
        row = algo_svc.set_enabled(session, actor=actor, scenario=scenario, name=name, enabled=enabled)
    emit(pick([row], ALGO_COLS)[0], as_json=as_json)


@algorithms.command("enable")
@handle_errors
def algo_enable(
    scenario: str = ScenarioArg, name: str = AlgorithmArg, user: str | None = UserOpt, as_json: bool = JsonOpt
) -> None:
    """Let new training jobs use an algorithm (administrators only)."""
    _set(scenario, name, True, user, as_json)


@algorithms.command("disable")
@handle_errors
def algo_disable(
    scenario: str = ScenarioArg, name: str = AlgorithmArg, user: str | None = UserOpt, as_json: bool = JsonOpt
) -> None:
    """Refused while a training job using the algorithm runs."""
    _set(scenario, name, False, user, as_json)
