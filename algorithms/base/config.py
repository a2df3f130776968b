"""The training job config (JSON written by the platform to ``jobs/{job_id}/config-{revision}.json``).

Only this module knows the config's field names; everything else in a container receives a ``JobConfig``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from algorithms.base.storage import read_bytes


@dataclass(frozen=True)
class ReleaseRef:
    """Where the dataset release zip lives and the checksum it must have."""

    uri: str
    sha256: str
    version: str = ""
    dataset_id: int | None = None


@dataclass(frozen=True)
class JobConfig:
    """One training job, as the platform described it."""

    job_id: int | None
    scenario: str
    algorithm: str
    model_name: str
    experiment_name: str
    release: ReleaseRef
    params: dict[str, Any] = field(default_factory=dict)
    search_space: dict[str, Any] = field(default_factory=dict)
    max_evals: int = 0

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> JobConfig:
        """Validate the raw JSON; a missing field is named in the error rather than failing later."""
        missing = [k for k in ("scenario", "algorithm", "model_name", "release") if not raw.get(k)]
        if missing:
            raise ValueError(f"job config is missing {', '.join(missing)}")
        release = raw["release"]
        if not isinstance(release, dict) or not release.get("uri") or not release.get("sha256"):
            raise ValueError("job config release needs 'uri' and 'sha256'")
        params = raw.get("params") or {}
        if not isinstance(params, dict):
            raise ValueError("job config 'params' must be an object")  # noqa: TRY004 - bad content, not a bug
        return cls(
            job_id=raw.get("job_id"),
            scenario=str(raw["scenario"]),
            algorithm=str(raw["algorithm"]),
            model_name=str(raw["model_name"]),
            experiment_name=str(raw.get("experiment_name") or f"mlops/{raw['scenario']}"),
            release=ReleaseRef(
                uri=str(release["uri"]),
                sha256=str(release["sha256"]).lower(),
                version=str(release.get("version") or ""),
                dataset_id=release.get("dataset_id"),
            ),
            params=dict(params),
            search_space=dict(raw.get("search_space") or {}),
            max_evals=int(raw.get("max_evals") or 0),
        )


def load_config(uri: str) -> JobConfig:
    """Read and validate the job config from ``s3://bucket/key`` or a local path."""
    try:
        raw = json.loads(read_bytes(uri))
    except json.JSONDecodeError as exc:
        raise ValueError(f"job config at {uri} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"job config at {uri} must be a JSON object")  # noqa: TRY004 - bad content, not a bug
    return JobConfig.from_dict(raw)
