"""Dataset releases: immutable, versioned snapshots of a dataset's entries, published as one zip."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from mlops_lite.schemas.common import Body, Id, Row, Version
from mlops_lite.schemas.runs import Launch

# Statuses a release ends in (after publishing): a waiting client stops at one of them.
SETTLED = frozenset({"published", "failed", "archived"})


class ReleaseEntry(Row):
    """An entry as the release froze it: its file and the splits it goes into."""

    entry_id: int
    name: str
    sha256: str
    size_bytes: int
    splits: list[str]


class ReleaseOut(Row):
    id: int
    dataset_id: int
    version: str
    description: str
    status: str = Field(description="pending, publishing, published, failed or archived")
    entries: list[ReleaseEntry] = Field(description="The entries the release froze, with their splits.")
    size_bytes: int | None = Field(description="Size of the release zip, once published.")
    sha256: str | None = Field(description="sha256 of the release zip, once published.")
    split_counts: dict[str, Any] = Field(description="Samples per split, once published.")
    error: str | None = Field(description="Why the last publishing failed.")
    flow_run_id: str | None = Field(description="The flow run that publishes (or published) it.")
    created_by: int | None
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None


class CreateRelease(Body):
    version: Version | None = Field(default=None, description="Default: the next vN.")
    entry_ids: list[Id] | None = Field(
        default=None, max_length=10_000, description="Entries to freeze (default: every flagged entry)."
    )
    description: str = Field(default="", max_length=4000)


class ReleaseLaunch(Row):
    """A release and the launch of the flow run publishing it (follow it with the release's progress)."""

    release: ReleaseOut
    launch: Launch


class ReleaseLink(Row):
    """A presigned URL that fetches a release's zip straight from the object store, without a token."""

    url: str
    expires_in: int = Field(description="Seconds the URL stays valid.")
    sha256: str
    size_bytes: int
