"""`mlops datasets ...`: create, upload, list, show, flag, publish, archive, restore, download.

Each command imports the catalog, Prefect or the object store in its body, only if it uses them (see
cli.main).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cli.common import (
    ExitCode,
    JsonOpt,
    TeamOpt,
    TimeoutOpt,
    UserOpt,
    emit,
    fail,
    handle_errors,
    pick,
    require_team,
    resolve_actor,
)

if TYPE_CHECKING:
    from catalog.models import DatasetRelease
    from catalog.scoping import Actor

app = typer.Typer(help="Datasets, their entries and releases.", no_args_is_help=True)

DATASET_COLS = ["id", "team_id", "scenario", "name", "description", "created_at"]
ENTRY_COLS = ["id", "name", "size_bytes", "is_train", "is_val", "is_test", "sha256"]
RELEASE_COLS = ["id", "version", "status", "size_bytes", "split_counts", "sha256", "error"]

DatasetArg = typer.Argument(..., help="Dataset id (`mlops datasets list`).")
ReleaseArg = typer.Argument(..., help="Release id (`mlops datasets releases DATASET_ID`).")
ScenarioFilterOpt = typer.Option(None, "--scenario", "-s", help="Only datasets of this scenario.")
SearchOpt = typer.Option(None, "--search", help="Only datasets whose name contains this text.")
OffsetOpt = typer.Option(0, "--offset", help="Skip this many datasets (paging).")
LimitOpt = typer.Option(50, "--limit", help="Show at most this many datasets.")


@app.command("create")
@handle_errors
def create(
    name: str = typer.Argument(..., help="Dataset name, unique in the team."),
    scenario: str = typer.Option(
        ...,
        "--scenario",
        "-s",
        help="Scenario the data is for, e.g. anomaly_detection (`mlops algorithms list`).",
    ),
    description: str = typer.Option("", "--description", help="Free text shown with the dataset."),
    user: str | None = UserOpt,
    team: str | None = TeamOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create an empty dataset in a team; upload entries into it with `mlops datasets upload`."""
    from catalog.db import session_scope
    from catalog.services import datasets as svc

    actor, team_id = resolve_actor(user, team)
    with session_scope() as session:
        ds = svc.create_dataset(
            session,
            actor=actor,
            team_id=require_team(team_id),
            scenario=scenario,
            name=name,
            description=description,
        )
    emit(pick([ds], DATASET_COLS)[0], as_json=as_json)


@app.command("list")
@handle_errors
def list_(
    scenario: str | None = ScenarioFilterOpt,
    search: str | None = SearchOpt,
    offset: int = OffsetOpt,
    limit: int = LimitOpt,
    user: str | None = UserOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The datasets of your teams, newest first (--json adds the total count)."""
    from catalog.db import session_scope
    from catalog.services import datasets as svc

    actor, _ = resolve_actor(user)
    with session_scope() as session:
        total, rows = svc.list_datasets(
            session, actor=actor, scenario=scenario, search=search, offset=offset, limit=limit
        )
    emit(
        {"count": total, "items": pick(rows, DATASET_COLS)} if as_json else pick(rows, DATASET_COLS),
        as_json=as_json,
    )


@app.command("show")
@handle_errors
def show(dataset_id: int = DatasetArg, user: str | None = UserOpt, as_json: bool = JsonOpt) -> None:
    """A dataset with its entries and releases."""
    from catalog.db import session_scope
    from catalog.services import datasets as svc
    from catalog.services import releases as rel_svc

    actor, _ = resolve_actor(user)
    with session_scope() as session:
        ds = svc.get_dataset(session, actor=actor, dataset_id=dataset_id)
        entries = svc.list_entries(session, actor=actor, dataset_id=dataset_id)
        releases = rel_svc.list_releases(session, actor=actor, dataset_id=dataset_id)
    if as_json:
        emit(
            {
                **pick([ds], DATASET_COLS)[0],
                "entries": [e.model_dump() for e in entries],
                "releases": [r.model_dump(exclude={"entries"}) for r in releases],
            },
            as_json=True,
        )
        return
    emit(pick([ds], DATASET_COLS)[0], as_json=False)
    typer.echo("\nentries:")
    emit(pick(entries, ENTRY_COLS), as_json=False)
    typer.echo("\nreleases:")
    emit(pick(releases, RELEASE_COLS), as_json=False)


@app.command("upload")
@handle_errors
def upload(
    dataset_id: int = DatasetArg,
    files: list[Path] = typer.Argument(
        ..., exists=True, dir_okay=False, help="Files to add, one entry each (checked against the scenario)."
    ),
    train: bool = typer.Option(True, "--train/--no-train", help="Flag the entries for the train split."),
    val: bool = typer.Option(False, "--val", help="Flag the entries for the validation split."),
    test: bool = typer.Option(False, "--test", help="Flag the entries for the test split."),
    user: str | None = UserOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Validate files and store them as entries of a dataset (a refused file stores nothing)."""
    from catalog.uploads import upload_entry

    actor, _ = resolve_actor(user)
    created = [
        upload_entry(
            actor=actor,
            dataset_id=dataset_id,
            path=f,
            filename=f.name,
            is_train=train,
            is_val=val,
            is_test=test,
        )
        for f in files
    ]
    emit(pick(created, ENTRY_COLS + ["summary"]), as_json=as_json)


@app.command("flag")
@handle_errors
def flag(
    entry_id: int = typer.Argument(..., help="Entry id (`mlops datasets show DATASET_ID`)."),
    train: bool | None = typer.Option(None, "--train/--no-train", help="Set or clear the train flag."),
    val: bool | None = typer.Option(None, "--val/--no-val", help="Set or clear the validation flag."),
    test: bool | None = typer.Option(None, "--test/--no-test", help="Set or clear the test flag."),
    user: str | None = UserOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Change which splits an entry goes into (flags not given stay as they are)."""
    from catalog.db import session_scope
    from catalog.services import datasets as svc

    actor, _ = resolve_actor(user)
    with session_scope() as session:
        entry = svc.set_entry_flags(
            session, actor=actor, entry_id=entry_id, is_train=train, is_val=val, is_test=test
        )
    emit(pick([entry], ENTRY_COLS)[0], as_json=as_json)


@app.command("publish")
@handle_errors
def publish(
    dataset_id: int = DatasetArg,
    version: str | None = typer.Option(
        None, "--version", "-v", help="Release version (default: the next vN)."
    ),
    entries: str | None = typer.Option(None, help="Comma-separated entry ids (default: by flags)."),
    description: str = typer.Option("", "--description", help="Free text shown with the release."),
    wait: bool = typer.Option(
        True, "--wait/--no-wait", help="Follow the publishing to its end, or return once it is taken on."
    ),
    timeout: float | None = TimeoutOpt,
    user: str | None = UserOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create a release and run the publish-release flow (exit codes as for `republish`)."""
    from catalog.db import session_scope
    from catalog.services import releases as rel_svc
    from flows.launch import check_reachable

    actor, _ = resolve_actor(user)
    ids = [int(x) for x in entries.split(",")] if entries else None
    check_reachable()  # before the release is created: no pending release when nothing could publish it
    with session_scope() as session:
        release = rel_svc.create_release(
            session,
            actor=actor,
            dataset_id=dataset_id,
            version=version,
            entry_ids=ids,
            description=description,
        )
    _publish(actor, release, wait=wait, timeout=timeout, as_json=as_json)


@app.command("republish")
@handle_errors
def republish(
    release_id: int = ReleaseArg,
    wait: bool = typer.Option(
        True, "--wait/--no-wait", help="Follow the publishing to its end, or return once it is taken on."
    ),
    timeout: float | None = TimeoutOpt,
    user: str | None = UserOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Publish a pending or failed release again. Without --wait, returns once its flow run holds the release.
    Exit codes: 1 failed, 3 publishing or published by another request, 4 deadline passed."""
    from catalog.db import session_scope
    from catalog.services import releases as rel_svc
    from flows.launch import check_reachable

    actor, _ = resolve_actor(user)
    check_reachable()
    with session_scope() as session:
        release = rel_svc.get_release(session, actor=actor, release_id=release_id)
    if release.status in ("publishing", "published", "archived"):
        held = f", flow run {release.flow_run_id}" if release.flow_run_id else ""
        fail(f"release {release.version!r} is already {release.status}{held}", ExitCode.CONFLICT)
    _publish(actor, release, wait=wait, timeout=timeout, as_json=as_json)


def _publish(
    actor: Actor, release: DatasetRelease, *, wait: bool, timeout: float | None, as_json: bool
) -> None:
    from catalog.db import session_scope
    from catalog.services import releases as rel_svc
    from cli.follow import conclude, launch_and_follow, release_target
    from flows.launch import flow_run_url

    followed = launch_and_follow(
        "publish-release", {"release_id": release.id}, release_target(release), wait=wait, timeout=timeout
    )
    with session_scope() as session:
        release = rel_svc.get_release(session, actor=actor, release_id=release.id)  # type: ignore[arg-type]
    emit(
        {**pick([release], RELEASE_COLS)[0], "flow_run": flow_run_url(followed.flow_run_id)}, as_json=as_json
    )
    conclude(followed)


@app.command("releases")
@handle_errors
def releases(dataset_id: int = DatasetArg, user: str | None = UserOpt, as_json: bool = JsonOpt) -> None:
    """A dataset's releases: version, status, size, split counts."""
    from catalog.db import session_scope
    from catalog.services import releases as rel_svc

    actor, _ = resolve_actor(user)
    with session_scope() as session:
        rows = rel_svc.list_releases(session, actor=actor, dataset_id=dataset_id)
    emit(pick(rows, RELEASE_COLS), as_json=as_json)


@app.command("archive")
@handle_errors
def archive(release_id: int = ReleaseArg, user: str | None = UserOpt, as_json: bool = JsonOpt) -> None:
    """Archive a published release: it can no longer be chosen for new training jobs."""
    from catalog.db import session_scope
    from catalog.services import releases as rel_svc

    actor, _ = resolve_actor(user)
    with session_scope() as session:
        release = rel_svc.archive_release(session, actor=actor, release_id=release_id)
    emit(pick([release], RELEASE_COLS)[0], as_json=as_json)


@app.command("restore")
@handle_errors
def restore(release_id: int = ReleaseArg, user: str | None = UserOpt, as_json: bool = JsonOpt) -> None:
    """Bring an archived release back to published."""
    from catalog.db import session_scope
    from catalog.services import releases as rel_svc

    actor, _ = resolve_actor(user)
    with session_scope() as session:
        release = rel_svc.restore_release(session, actor=actor, release_id=release_id)
    emit(pick([release], RELEASE_COLS)[0], as_json=as_json)


@app.command("download")
@handle_errors
def download(
    release_id: int = ReleaseArg,
    output: Path = typer.Option(
        None, "--output", "-o", help="Zip path (default: ./release-<id>-<version>.zip)."
    ),
    url_only: bool = typer.Option(False, "--url", help="Print a presigned URL instead."),
    user: str | None = UserOpt,
) -> None:
    """Stream a release's zip to a file, verified against its sha256."""
    from catalog.db import session_scope
    from catalog.services import releases as rel_svc
    from infra.objectstore import ObjectStore
    from infra.settings import get_settings
    from tasks.datasets import ReleaseBuildError, verified_download

    actor, _ = resolve_actor(user)
    with session_scope() as session:
        release = rel_svc.downloadable_release(session, actor=actor, release_id=release_id)
    store = ObjectStore.from_settings(get_settings().s3)
    assert release.object_key is not None and release.sha256 is not None
    if url_only:
        typer.echo(store.presigned_get_url(release.object_key))
        return
    target = output or Path(f"release-{release.id}-{release.version}.zip")
    try:
        verified_download(store, key=release.object_key, sha256=release.sha256, target=target)
    except ReleaseBuildError as exc:
        fail(str(exc))
    typer.echo(f"{target} ({release.size_bytes} bytes, sha256 verified)")
