"""`mlops teams|users|algorithms ...`: organizations (a tree of teams), accounts and the algorithm catalog,
through the platform API (``cli.common.client``: the caller's token decides who acts and what they may do).

Each command imports the SDK in its body (see cli.main).
"""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING

import typer

from cli.common import (
    IncludeChildrenOpt,
    JsonOpt,
    TeamFilterOpt,
    client,
    emit,
    fail,
    handle_errors,
    pick,
    team_id_of,
)

if TYPE_CHECKING:
    from mlops_lite.client import Client

teams = typer.Typer(help="Teams (organizations) and their members.", no_args_is_help=True)
users = typer.Typer(help="User accounts and memberships.", no_args_is_help=True)
algorithms = typer.Typer(help="The algorithm catalog.", no_args_is_help=True)
TEAM_COLS = ["id", "name", "parent_id", "description"]
USER_COLS = ["id", "username", "is_superuser", "is_active"]
MEMBER_COLS = ["user_id", "username", "role", "is_superuser", "is_active"]
ALGO_COLS = ["id", "scenario", "name", "display_name", "enabled", "image"]

ScenarioArg = typer.Argument(..., help="Scenario, e.g. anomaly_detection.")
AlgorithmArg = typer.Argument(..., help="Algorithm name, e.g. ECOD.")
TeamArg = typer.Argument(..., help="Team name or id.")
SearchOpt = typer.Option(None, "--search", "-q", help="Only names containing this text.")


def _team(api: Client, team: str) -> int:
    team_id = team_id_of(api, team)
    assert team_id is not None  # team_id_of fails for a team it cannot find
    return team_id


def _user_id(api: Client, username: str) -> int:
    """The id of a user account (administrators: they alone list users)."""
    found = api.users.by_name(username)
    if found is None:
        fail(f"user {username[:100]!r} not found")
    return found.id  # type: ignore[union-attr]


def _member_id(api: Client, team_id: int, username: str) -> int:
    """The id of a member of the team (read from its member list, which every member may see)."""
    for member in api.teams.members(team_id, search=username):
        if member.username == username:
            return member.user_id
    fail(f"{username[:100]!r} is not a member of team {team_id}")
    return 0  # unreachable: fail() exits


# ---------------------------------------------------------------- teams


@teams.command("create")
@handle_errors
def team_create(
    name: str = typer.Argument(..., help="Team name, unique."),
    description: str = typer.Option("", "--description", help="Free text shown with the team."),
    parent: str | None = typer.Option(
        None, "--parent", "-p", help="Create a sub-team of this team (name or id; needs teams:manage on it)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Create a top-level team (administrators), or a sub-team with --parent (the parent's team admins)."""
    with client() as api:
        parent_id = _team(api, parent) if parent is not None else None
        team = api.teams.create(name, description=description, parent_id=parent_id)
    emit(pick([team], TEAM_COLS)[0], as_json=as_json)


@teams.command("move")
@handle_errors
def team_move(
    team: str = TeamArg,
    parent: str | None = typer.Option(None, "--parent", "-p", help="The new parent team (name or id)."),
    top: bool = typer.Option(False, "--top", help="Make it a top-level team (administrators)."),
    as_json: bool = JsonOpt,
) -> None:
    """Move a team, with its sub-teams, under another parent or to the top level (needs teams:manage on the
    current parent and on the new one)."""
    if (parent is None) == (not top):
        fail("give either --parent TEAM or --top")
    with client() as api:
        parent_id = _team(api, parent) if parent is not None else None
        moved = api.teams.move(_team(api, team), parent_id=parent_id)
    emit(pick([moved], TEAM_COLS)[0], as_json=as_json)


@teams.command("delete")
@handle_errors
def team_delete(team: str = TeamArg) -> None:
    """Delete a team and its memberships; refused while it has sub-teams, datasets, jobs or servings."""
    with client() as api:
        api.teams.delete(_team(api, team))
    typer.echo(f"team {team} deleted")


@teams.command("list")
@handle_errors
def team_list(
    search: str | None = SearchOpt,
    team: str | None = TeamFilterOpt,
    include_children: bool = IncludeChildrenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The teams you see (every team for administrators), with their parent."""
    with client() as api:
        rows = list(
            api.teams.list(search=search, team_id=team_id_of(api, team), include_children=include_children)
        )
    emit(pick(rows, TEAM_COLS), as_json=as_json)


@teams.command("show")
@handle_errors
def team_show(team: str = TeamArg, as_json: bool = JsonOpt) -> None:
    """A team and its members."""
    with client() as api:
        row = api.teams.get(_team(api, team))
        members = list(api.teams.members(row.id))
    shown = {**pick([row], [*TEAM_COLS, "created_at"])[0], "members": pick(members, MEMBER_COLS)}
    if as_json:
        emit(shown, as_json=True)
        return
    emit({k: v for k, v in shown.items() if k != "members"}, as_json=False)
    typer.echo("")
    emit(shown["members"], as_json=False, columns=MEMBER_COLS)


@teams.command("members")
@handle_errors
def team_members(team: str = TeamArg, search: str | None = SearchOpt, as_json: bool = JsonOpt) -> None:
    """A team's members and their roles."""
    with client() as api:
        rows = list(api.teams.members(_team(api, team), search=search))
    emit(pick(rows, MEMBER_COLS), as_json=as_json, columns=MEMBER_COLS)


# ---------------------------------------------------------------- users


@users.command("create")
@handle_errors
def user_create(
    username: str = typer.Argument(..., help="Login of the new user."),
    password: str | None = typer.Option(None, help="Prompted for when omitted."),
    superuser: bool = typer.Option(
        False, "--superuser/--no-superuser", help="Make the user an administrator."
    ),
    team: list[str] = typer.Option(None, "--team", help="Team name or id (repeatable)."),
    as_json: bool = JsonOpt,
) -> None:
    """Create a user account, optionally a member of teams (administrators only)."""
    password = password or getpass.getpass(f"password for {username}: ")
    with client() as api:
        team_ids = [_team(api, name) for name in team or []]
        created = api.users.create(username, password, is_superuser=superuser, team_ids=team_ids)
    emit(pick([created], ["id", "username", "is_superuser"])[0], as_json=as_json)


@users.command("list")
@handle_errors
def user_list(search: str | None = SearchOpt, as_json: bool = JsonOpt) -> None:
    """Every user account: login, administrator or not, active or not (administrators only)."""
    with client() as api:
        rows = list(api.users.list(search=search))
    emit(pick(rows, USER_COLS), as_json=as_json)


@users.command("show")
@handle_errors
def user_show(
    username: str = typer.Argument(..., help="Login of the user."), as_json: bool = JsonOpt
) -> None:
    """A user account, with its failed logins and lock (administrators only)."""
    with client() as api:
        row = api.users.get(_user_id(api, username))
    emit(row.model_dump(), as_json=as_json)


@users.command("set-password")
@handle_errors
def user_set_password(
    username: str = typer.Argument(..., help="Login of the user."),
    password: str | None = typer.Option(None, help="Prompted for when omitted."),
) -> None:
    """Set a user's password, which also lifts a lockout (administrators only)."""
    password = password or getpass.getpass(f"new password for {username}: ")
    with client() as api:
        api.users.set_password(_user_id(api, username), password)
    typer.echo(f"password of {username} set")


@users.command("add-to-team")
@handle_errors
def user_add(
    username: str = typer.Argument(..., help="Login of the user to add."),
    team: str = typer.Argument(..., help="Team name or id."),
    role: str = typer.Option(
        "member",
        "--role",
        help="viewer, member, maintainer, admin, or a custom role (`mlops roles list`).",
    ),
) -> None:
    """Make a user a member of a team (a member already gets the new role); administrators and the team's
    admins."""
    with client() as api:
        api.teams.add_member(_team(api, team), username=username, role=role)
    typer.echo(f"{username} is now a {role} of {team}")


@users.command("remove-from-team")
@handle_errors
def user_remove(
    username: str = typer.Argument(..., help="Login of the member to remove."),
    team: str = typer.Argument(..., help="Team name or id."),
) -> None:
    """Remove a member from a team; administrators and the team's admins."""
    with client() as api:
        team_id = _team(api, team)
        api.teams.remove_member(team_id, _member_id(api, team_id, username))
    typer.echo(f"{username} removed from {team}")


# ---------------------------------------------------------------- algorithms


@algorithms.command("list")
@handle_errors
def algo_list(
    scenario: str | None = typer.Option(None, "--scenario", "-s", help="Only this scenario's algorithms."),
    enabled: bool | None = typer.Option(
        None, "--enabled/--disabled", help="Only enabled (or only disabled) algorithms; default: both."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """The algorithms of every scenario, enabled or not."""
    with client() as api:
        rows = list(api.algorithms.list(scenario=scenario, enabled=enabled))
    emit(pick(rows, ALGO_COLS), as_json=as_json)


@algorithms.command("show")
@handle_errors
def algo_show(scenario: str = ScenarioArg, name: str = AlgorithmArg, as_json: bool = JsonOpt) -> None:
    """An algorithm in full: its parameters' form, defaults and search space."""
    with client() as api:
        row = api.algorithms.get(scenario, name)
    emit(row.model_dump(), as_json=as_json)


@algorithms.command("enable")
@handle_errors
def algo_enable(scenario: str = ScenarioArg, name: str = AlgorithmArg, as_json: bool = JsonOpt) -> None:
    """Let new training jobs use an algorithm (administrators only)."""
    with client() as api:
        row = api.algorithms.enable(scenario, name)
    emit(pick([row], ALGO_COLS)[0], as_json=as_json)


@algorithms.command("disable")
@handle_errors
def algo_disable(scenario: str = ScenarioArg, name: str = AlgorithmArg, as_json: bool = JsonOpt) -> None:
    """Refused while a training job using the algorithm runs (administrators only)."""
    with client() as api:
        row = api.algorithms.disable(scenario, name)
    emit(pick([row], ALGO_COLS)[0], as_json=as_json)
