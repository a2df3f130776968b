"""`mlops teams|users|algorithms ...`: organizations, accounts and the algorithm catalog."""

from __future__ import annotations

import getpass

import typer

from catalog.db import session_scope
from catalog.services import algorithms as algo_svc
from catalog.services import teams as team_svc
from cli.common import JsonOpt, UserOpt, emit, handle_errors, pick, resolve_actor

teams = typer.Typer(help="Teams (organizations).", no_args_is_help=True)
users = typer.Typer(help="Users and memberships.", no_args_is_help=True)
algorithms = typer.Typer(help="The algorithm catalog.", no_args_is_help=True)
ALGO_COLS = ["id", "scenario", "name", "display_name", "enabled", "image"]


@teams.command("create")
@handle_errors
def team_create(name: str, description: str = "", user: str | None = UserOpt, as_json: bool = JsonOpt) -> None:
    actor, _ = resolve_actor(user)
    with session_scope() as session:
        team = team_svc.create_team(session, actor=actor, name=name, description=description)
    emit(pick([team], ["id", "name", "description"])[0], as_json=as_json)


@teams.command("list")
@handle_errors
def team_list(user: str | None = UserOpt, as_json: bool = JsonOpt) -> None:
    actor, _ = resolve_actor(user)
    with session_scope() as session:
        rows = team_svc.list_teams(session, actor=actor)
    emit(pick(rows, ["id", "name", "description"]), as_json=as_json)


@users.command("create")
@handle_errors
def user_create(username: str, password: str | None = typer.Option(None, help="Prompted for when omitted."),
                superuser: bool = False, team: list[str] = typer.Option(None, "--team", help="Team name (repeatable)."),
                user: str | None = UserOpt, as_json: bool = JsonOpt) -> None:
    actor, _ = resolve_actor(user)
    password = password or getpass.getpass(f"password for {username}: ")
    with session_scope() as session:
        created = team_svc.create_user(session, actor=actor, username=username, password=password,
                                       is_superuser=superuser)
        for name in team or []:
            team_row = team_svc.get_team(session, name=name)
            team_svc.add_member(session, actor=actor, user_id=created.id, team_id=team_row.id)
    emit(pick([created], ["id", "username", "is_superuser"])[0], as_json=as_json)


@users.command("list")
@handle_errors
def user_list(user: str | None = UserOpt, as_json: bool = JsonOpt) -> None:
    actor, _ = resolve_actor(user)
    with session_scope() as session:
        rows = team_svc.list_users(session, actor=actor)
    emit(pick(rows, ["id", "username", "is_superuser", "is_active"]), as_json=as_json)


@users.command("add-to-team")
@handle_errors
def user_add(username: str, team: str, role: str = "member", user: str | None = UserOpt) -> None:
    actor, _ = resolve_actor(user)
    with session_scope() as session:
        target = team_svc.get_user(session, username=username)
        team_row = team_svc.get_team(session, name=team)
        team_svc.add_member(session, actor=actor, user_id=target.id, team_id=team_row.id, role=role)
    typer.echo(f"{username} is now a {role} of {team}")


@algorithms.command("list")
@handle_errors
def algo_list(scenario: str | None = typer.Option(None, "--scenario", "-s"), as_json: bool = JsonOpt) -> None:
    with session_scope() as session:
        rows = algo_svc.list_algorithms(session, scenario=scenario)
    emit(pick(rows, ALGO_COLS), as_json=as_json)


@algorithms.command("show")
@handle_errors
def algo_show(scenario: str, name: str, as_json: bool = JsonOpt) -> None:
    with session_scope() as session:
        row = algo_svc.get_algorithm(session, scenario=scenario, name=name)
    emit(row.model_dump(), as_json=as_json)


def _set(scenario: str, name: str, enabled: bool, user: str | None, as_json: bool) -> None:
    actor, _ = resolve_actor(user)
    with session_scope() as session:
        row = algo_svc.set_enabled(session, actor=actor, scenario=scenario, name=name, enabled=enabled)
    emit(pick([row], ALGO_COLS)[0], as_json=as_json)


@algorithms.command("enable")
@handle_errors
def algo_enable(scenario: str, name: str, user: str | None = UserOpt, as_json: bool = JsonOpt) -> None:
    _set(scenario, name, True, user, as_json)


@algorithms.command("disable")
@handle_errors
def algo_disable(scenario: str, name: str, user: str | None = UserOpt, as_json: bool = JsonOpt) -> None:
    """Refused while a training job using the algorithm runs."""
    _set(scenario, name, False, user, as_json)
