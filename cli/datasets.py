"""`mlops datasets ...`: create, upload, list, show, flag, publish, republish, releases, archive, restore,
download — every one a call of the platform API through the SDK (``cli.common.client``), so they work from
any machine with a token; uploads and downloads stream from and to files.

Only typer and the standard library at module level; the SDK is imported in the command bodies (see
cli.main).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cli.common import (
    IncludeChildrenOpt,
    JsonOpt,
    TeamFilterOpt,
    TeamOpt,
    TimeoutOpt,
    client,
    emit,
    emit_page,
    handle_errors,
    pick,
    team_id_of,
)

if TYPE_CHECKING:
    from cli.follow import Target
    from mlops_lite.client import Client
    from mlops_lite.schemas.releases import ReleaseLaunch, ReleaseOut

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
WaitOpt = typer.Option(
    True, "--wait/--no-wait", help="Follow the publishing to its end, or return once it is taken on."
)


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
    team: str | None = TeamOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create an empty dataset in a team; upload entries into it with `mlops datasets upload`."""
    with client() as api:
        ds = api.datasets.create(name, scenario, description=description, team_id=team_id_of(api, team))
    emit(pick([ds], DATASET_COLS)[0], as_json=as_json)


@app.command("list")
@handle_errors
def list_(
    scenario: str | None = ScenarioFilterOpt,
    search: str | None = SearchOpt,
    team: str | None = TeamFilterOpt,
    include_children: bool = IncludeChildrenOpt,
    offset: int = OffsetOpt,
    limit: int = LimitOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The datasets of your teams, newest first (--json adds the total count)."""
    with client() as api:
        page = api.datasets.page(
            offset=offset,
            limit=limit,
            search=search,
            scenario=scenario,
            team_id=team_id_of(api, team),
            include_children=include_children,
        )
    emit_page(page, DATASET_COLS, as_json=as_json)


@app.command("show")
@handle_errors
def show(dataset_id: int = DatasetArg, as_json: bool = JsonOpt) -> None:
    """A dataset with its entries and releases."""
    with client() as api:
        ds = api.datasets.get(dataset_id)
        entries = list(api.datasets.entries(dataset_id))
        releases = list(api.releases.list(dataset_id))
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
    val: bool = typer.Option(False, "--val/--no-val", help="Flag the entries for the validation split."),
    test: bool = typer.Option(False, "--test/--no-test", help="Flag the entries for the test split."),
    as_json: bool = JsonOpt,
) -> None:
    """Validate files and store them as entries of a dataset, streamed from disk (a refused file stores
    nothing; the files before it stay uploaded)."""
    with client() as api:
        created = [api.datasets.upload(dataset_id, f, train=train, val=val, test=test) for f in files]
    emit(pick(created, ENTRY_COLS + ["summary"]), as_json=as_json)


@app.command("flag")
@handle_errors
def flag(
    entry_id: int = typer.Argument(..., help="Entry id (`mlops datasets show DATASET_ID`)."),
    train: bool | None = typer.Option(None, "--train/--no-train", help="Set or clear the train flag."),
    val: bool | None = typer.Option(None, "--val/--no-val", help="Set or clear the validation flag."),
    test: bool | None = typer.Option(None, "--test/--no-test", help="Set or clear the test flag."),
    as_json: bool = JsonOpt,
) -> None:
    """Change which splits an entry goes into (flags not given stay as they are)."""
    with client() as api:
        entry = api.datasets.flag(entry_id, train=train, val=val, test=test)
    emit(pick([entry], ENTRY_COLS)[0], as_json=as_json)


def release_target(api: Client, release: ReleaseOut) -> Target:
    """How a publishing is followed: the release's progress, through the API."""
    from cli.follow import PUBLISHING, Target

    return Target(
        PUBLISHING,
        f"release {release.version!r}",
        f"mlops datasets releases {release.dataset_id}",
        lambda flow_run_id: api.releases.progress(release.id, flow_run_id),
    )


@app.command("publish")
@handle_errors
def publish(
    dataset_id: int = DatasetArg,
    version: str | None = typer.Option(
        None, "--version", "-v", help="Release version (default: the next vN)."
    ),
    entries: str | None = typer.Option(None, help="Comma-separated entry ids (default: by flags)."),
    description: str = typer.Option("", "--description", help="Free text shown with the release."),
    wait: bool = WaitOpt,
    timeout: float | None = TimeoutOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create a release and run the publish-release flow (exit codes as for `republish`)."""
    ids = [int(x) for x in entries.split(",")] if entries else None
    with client() as api:
        # The API creates no release when Prefect does not answer (exit code 5).
        started = api.releases.publish(dataset_id, version=version, entry_ids=ids, description=description)
        _follow(api, started, wait=wait, timeout=timeout, as_json=as_json)


@app.command("republish")
@handle_errors
def republish(
    release_id: int = ReleaseArg,
    wait: bool = WaitOpt,
    timeout: float | None = TimeoutOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Publish a pending or failed release again. Without --wait, returns once its flow run holds the release.
    Exit codes: 1 failed, 3 publishing or published by another request, 4 deadline passed."""
    with client() as api:
        _follow(api, api.releases.republish(release_id), wait=wait, timeout=timeout, as_json=as_json)


def _follow(api: Client, started: ReleaseLaunch, *, wait: bool, timeout: float | None, as_json: bool) -> None:
    from cli.follow import conclude, launch_and_follow

    followed = launch_and_follow(
        lambda: started.launch, release_target(api, started.release), wait=wait, timeout=timeout
    )
    release = api.releases.get(started.release.id)
    emit({**pick([release], RELEASE_COLS)[0], "flow_run": started.launch.flow_run_url}, as_json=as_json)
    conclude(followed)


@app.command("releases")
@handle_errors
def releases(dataset_id: int = DatasetArg, as_json: bool = JsonOpt) -> None:
    """A dataset's releases, newest first: version, status, size, split counts."""
    with client() as api:
        rows = list(api.releases.list(dataset_id))
    emit(pick(rows, RELEASE_COLS), as_json=as_json)


@app.command("archive")
@handle_errors
def archive(release_id: int = ReleaseArg, as_json: bool = JsonOpt) -> None:
    """Archive a published release: it can no longer be chosen for new training jobs."""
    with client() as api:
        release = api.releases.archive(release_id)
    emit(pick([release], RELEASE_COLS)[0], as_json=as_json)


@app.command("restore")
@handle_errors
def restore(release_id: int = ReleaseArg, as_json: bool = JsonOpt) -> None:
    """Bring an archived release back to published."""
    with client() as api:
        release = api.releases.restore(release_id)
    emit(pick([release], RELEASE_COLS)[0], as_json=as_json)


@app.command("download")
@handle_errors
def download(
    release_id: int = ReleaseArg,
    output: Path = typer.Option(
        None, "--output", "-o", help="Zip path (default: ./release-<id>-<version>.zip)."
    ),
    url_only: bool = typer.Option(
        False,
        "--url",
        help="Print a presigned URL of the object store instead (it names the store's address).",
    ),
) -> None:
    """Stream a release's zip to a file, verified against its sha256."""
    with client() as api:
        if url_only:
            typer.echo(api.releases.link(release_id).url)
            return
        release = api.releases.get(release_id)
        target = api.releases.download(
            release_id, output or Path(f"release-{release.id}-{release.version}.zip")
        )
    typer.echo(f"{target} ({release.size_bytes} bytes, sha256 verified)")
