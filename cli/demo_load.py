"""Loading the demo datasets (``catalog.demo_data``, generated locally) into a team through the platform API,
the way any user's files arrive: each dataset created, its files uploaded (validated by the server) with
their split flags. Publishing their ``v1`` releases is `mlops demo`'s part (``cli.demo``): the API creates a
release and launches its publishing in one call.

Loading is idempotent and resumable: a dataset already there is matched by team, scenario and name; only the
files it lacks (by name) are uploaded; a dataset whose ``v1`` is already published is reported as skipped
with nothing changed, one whose ``v1`` is pending or failed is published again.

Only typer and the standard library at module level (see cli.main): the generators import numpy and Pillow.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from catalog.demo_data import DemoDataset
    from mlops_lite.client import Client
    from mlops_lite.schemas.datasets import DatasetOut

DEMO_VERSION = "v1"
PUBLISHED = ("published", "archived")


@dataclass
class DemoOutcome:
    """What loading did for one demo dataset. ``to_publish``: its ``v1`` still needs publishing (it does not
    exist yet, or is pending or failed); ``entry_ids``: the entries holding its files, in file order."""

    name: str
    scenario: str
    dataset_id: int
    created: bool
    uploaded: list[str] = field(default_factory=list)
    entry_ids: list[int] = field(default_factory=list)
    release_id: int | None = None
    release_status: str | None = None
    algorithm: str = ""
    params: dict[str, object] = field(default_factory=dict)

    @property
    def to_publish(self) -> bool:
        return self.release_status in (None, "pending", "failed")

    @property
    def skipped(self) -> bool:
        """Already loaded before this run: nothing created, nothing uploaded, release published."""
        return not self.created and not self.uploaded and self.release_status in PUBLISHED


def _ensure_dataset(api: Client, demo: DemoDataset, team_id: int) -> tuple[DatasetOut, bool]:
    for found in api.datasets.list(search=demo.name, scenario=demo.scenario.value, team_id=team_id):
        if found.name == demo.name:
            return found, False
    created = api.datasets.create(
        demo.name, demo.scenario.value, description=demo.description, team_id=team_id
    )
    return created, True


def _upload_missing(
    api: Client, demo: DemoDataset, dataset_id: int, workdir: Path
) -> tuple[list[str], list[int]]:
    """Upload the files the dataset lacks; the ids of the entries holding every demo file, in file order.
    (Demo file names are stored as they are: tests/cli/test_demo.py checks they need no sanitising.)"""
    by_name: dict[str, int] = {}
    for entry in api.datasets.entries(dataset_id):
        by_name.setdefault(entry.name, entry.id)
    uploaded: list[str] = []
    for demo_file in demo.files:
        if demo_file.filename in by_name:
            continue
        path = workdir / demo_file.filename
        path.write_bytes(demo_file.data)
        entry = api.datasets.upload(
            dataset_id,
            path,
            train="train" in demo_file.splits,
            val="val" in demo_file.splits,
            test="test" in demo_file.splits,
        )
        path.unlink()
        by_name[demo_file.filename] = entry.id
        uploaded.append(demo_file.filename)
    return uploaded, [by_name[f.filename] for f in demo.files]


def load_demo(
    api: Client,
    *,
    team_id: int,
    scenarios: list[Any] | None = None,
    echo: Callable[[str], object] = print,
) -> list[DemoOutcome]:
    """Create the demo datasets of ``scenarios`` (all by default) in ``team_id`` and upload their files;
    returns one outcome per dataset (publish those with ``to_publish``)."""
    from catalog.demo_data import demo_datasets

    outcomes = []
    with tempfile.TemporaryDirectory(prefix="mlops-demo-") as tmp:
        for demo in demo_datasets(scenarios):
            dataset, created = _ensure_dataset(api, demo, team_id)
            uploaded, entry_ids = _upload_missing(api, demo, dataset.id, Path(tmp))
            release = next((r for r in api.releases.list(dataset.id) if r.version == DEMO_VERSION), None)
            outcome = DemoOutcome(
                name=demo.name,
                scenario=demo.scenario.value,
                dataset_id=dataset.id,
                created=created,
                uploaded=uploaded,
                entry_ids=entry_ids,
                release_id=release.id if release else None,
                release_status=release.status if release else None,
                algorithm=demo.algorithm,
                params=dict(demo.params),
            )
            status = f"{DEMO_VERSION} {release.status}" if release else f"{DEMO_VERSION} not created yet"
            if outcome.skipped:
                echo(f"{demo.name}: already loaded ({status}), skipped")
            else:
                what = "created" if created else "found"
                files = f", uploaded {', '.join(uploaded)}" if uploaded else ""
                echo(f"{demo.name}: dataset #{dataset.id} {what}{files}; release {status}")
            outcomes.append(outcome)
    return outcomes


def write_samples(target: Path, scenarios: list[Any] | None = None) -> dict[str, list[Path]]:
    """Write each demo dataset's sandbox inputs under ``target/<dataset name>/``; paths per dataset name."""
    from catalog.demo_data import demo_datasets

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
