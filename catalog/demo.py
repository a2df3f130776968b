"""Loading the demo datasets (``catalog.demo_data``) into a team, the way the dashboard loads any upload.

Each dataset is created, its files go through ``catalog.uploads.upload_entry`` (the same validators, object
store and catalog rows as a dashboard upload) with their split flags, and a release ``v1`` freezing them is
created. Publishing that release runs the publish flow, which the caller (`mlops demo`) launches: the catalog
layer does not run flows.

Loading is idempotent and resumable: a dataset already there is matched by team, scenario and name; only the
files it lacks (by name) are uploaded, ``v1`` is created only when missing, and a dataset whose ``v1`` is
already published is reported as skipped with nothing changed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from catalog.db import session_scope
from catalog.demo_data import DemoDataset, demo_datasets
from catalog.models import Dataset, DatasetRelease, ReleaseStatus
from catalog.scenarios import Scenario
from catalog.scoping import Actor
from catalog.services import datasets as datasets_service
from catalog.services import releases as releases_service
from catalog.uploads import safe_filename, upload_entry
from infra.objectstore import ObjectStore

DEMO_VERSION = "v1"


@dataclass
class DemoOutcome:
    """What loading did for one demo dataset. ``to_publish``: its release still needs the publish flow."""

    name: str
    scenario: str
    dataset_id: int
    created: bool
    uploaded: list[str] = field(default_factory=list)
    release_id: int | None = None
    release_status: str | None = None
    algorithm: str = ""
    params: dict[str, object] = field(default_factory=dict)

    @property
    def to_publish(self) -> bool:
        return self.release_status in (ReleaseStatus.PENDING, ReleaseStatus.FAILED)

    @property
    def skipped(self) -> bool:
        """Already loaded before this run: nothing created, nothing uploaded, release published."""
        return (
            not self.created
            and not self.uploaded
            and self.release_status in (ReleaseStatus.PUBLISHED, ReleaseStatus.ARCHIVED)
        )


def find_dataset(*, actor: Actor, team_id: int, scenario: str, name: str) -> Dataset | None:
    with session_scope() as session:
        _, rows = datasets_service.list_datasets(
            session, actor=actor, scenario=scenario, team_id=team_id, search=name, limit=1000
        )
    return next((d for d in rows if d.name == name), None)


def _ensure_dataset(demo: DemoDataset, *, actor: Actor, team_id: int) -> tuple[Dataset, bool]:
    existing = find_dataset(actor=actor, team_id=team_id, scenario=demo.scenario.value, name=demo.name)
    if existing is not None:
        return existing, False
    with session_scope() as session:
        dataset = datasets_service.create_dataset(
            session,
            actor=actor,
            team_id=team_id,
            scenario=demo.scenario.value,
            name=demo.name,
            description=demo.description,
        )
    return dataset, True


def _upload_missing(
    demo: DemoDataset, dataset_id: int, *, actor: Actor, store: ObjectStore | None, workdir: Path
) -> tuple[list[str], list[int]]:
    """Upload the files the dataset lacks; the ids of the entries holding every demo file, in file order."""
    with session_scope() as session:
        entries = datasets_service.list_entries(session, actor=actor, dataset_id=dataset_id)
    by_name: dict[str, int] = {}
    for entry in entries:
        by_name.setdefault(entry.name, entry.id)  # type: ignore[arg-type]
    uploaded: list[str] = []
    for demo_file in demo.files:
        stored_name = safe_filename(demo_file.filename)
        if stored_name in by_name:
            continue
        path = workdir / stored_name
        path.write_bytes(demo_file.data)
        entry = upload_entry(
            actor=actor,
            dataset_id=dataset_id,
            path=path,
            filename=demo_file.filename,
            is_train="train" in demo_file.splits,
            is_val="val" in demo_file.splits,
            is_test="test" in demo_file.splits,
            store=store,
        )
        path.unlink()
        by_name[stored_name] = entry.id  # type: ignore[assignment]
        uploaded.append(demo_file.filename)
    return uploaded, [by_name[safe_filename(f.filename)] for f in demo.files]


def _ensure_release(dataset_id: int, entry_ids: list[int], *, actor: Actor) -> DatasetRelease:
    with session_scope() as session:
        releases = releases_service.list_releases(session, actor=actor, dataset_id=dataset_id)
        existing = next((r for r in releases if r.version == DEMO_VERSION), None)
        if existing is not None:
            return existing
        return releases_service.create_release(
            session,
            actor=actor,
            dataset_id=dataset_id,
            version=DEMO_VERSION,
            entry_ids=entry_ids,
            description="mlops demo",
        )


def load_demo(
    *,
    actor: Actor,
    team_id: int,
    scenarios: list[Scenario] | None = None,
    store: ObjectStore | None = None,
    echo: Callable[[str], object] = print,
) -> list[DemoOutcome]:
    """Create the demo datasets of ``scenarios`` (all by default) in ``team_id``, upload their files and
    create their ``v1`` releases; returns one outcome per dataset (publish those with ``to_publish``)."""
    actor.require_team(team_id)
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="mlops-demo-") as tmp:
        for demo in demo_datasets(scenarios):
            dataset, created = _ensure_dataset(demo, actor=actor, team_id=team_id)
            uploaded, entry_ids = _upload_missing(
                demo,
                dataset.id,
                actor=actor,
                store=store,  # type: ignore[arg-type]
                workdir=Path(tmp),
            )
            release = _ensure_release(dataset.id, entry_ids, actor=actor)  # type: ignore[arg-type]
            outcome = DemoOutcome(
                name=demo.name,
                scenario=demo.scenario.value,
                dataset_id=dataset.id,  # type: ignore[arg-type]
                created=created,
                uploaded=uploaded,
                release_id=release.id,
                release_status=str(release.status),
                algorithm=demo.algorithm,
                params=dict(demo.params),
            )
            if outcome.skipped:
                echo(f"{demo.name}: already loaded ({DEMO_VERSION} {release.status}), skipped")
            else:
                what = "created" if created else "found"
                files = f", uploaded {', '.join(uploaded)}" if uploaded else ""
                echo(
                    f"{demo.name}: dataset #{dataset.id} {what}{files}; release {DEMO_VERSION} {release.status}"
                )
            outcomes.append(outcome)
    return outcomes


def write_samples(target: Path, scenarios: list[Scenario] | None = None) -> dict[str, list[Path]]:
    """Write each demo dataset's sandbox inputs under ``target/<dataset name>/``; paths per dataset name."""
    written: dict[str, list[Path]] = {}
    for demo in demo_datasets(scenarios):
        folder = target / demo.name
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for sample in demo.samples:
            path = folder / sample.filename
            path.write_bytes(sample.data)
            paths.append(path)
        written[demo.name] = paths
    return written
