"""The platform API's OpenAPI document is exact: schemathesis (an OpenAPI property-based fuzzer) runs every
check it has against a live API server, authenticated as the operator, with a bounded number of examples per
operation and a fixed seed, and finds nothing: no 5xx, every answer's status, content type and body as
documented, schema-valid requests not refused as invalid, schema-invalid ones refused.

Run as its own command (``python -m schemathesis.cli run``), as one would run it by hand against a server.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 15
SEED = 20261207
# A refusal for a reason the schema cannot state (a missing or foreign id, a state that forbids the action)
# is an answer the fuzzer should accept for schema-valid data, as it does 404.
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2XX", "401", "403", "404", "409"]
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "409", "413", "415", "422"]

# Refusals of what no schema can state: an upload's bytes are checked by its scenario's validators; a release
# needs entries of the dataset flagged for training.
[[operations]]
include-name = ["POST /api/v1/datasets/{dataset_id}/entries", "POST /api/v1/datasets/{dataset_id}/releases"]
checks.positive_data_acceptance.expected-statuses = ["2XX", "401", "403", "404", "409", "422"]

# Removing a member: never the operator from its team (every create without a team_id goes to it), a member who
# is not the caller instead (mallory, tests/fixtures/accounts.py).
[[operations]]
include-name = ["DELETE /api/v1/teams/{team_id}/members/{user_id}"]
parameters = { user_id = MALLORY_ID }

# A role must exist (any name the pattern allows may be one an administrator defines later); a token is narrowed
# only to permissions its user holds on some team.
[[operations]]
include-name = ["POST /api/v1/teams/{team_id}/members", "POST /api/v1/service-accounts/{user_id}/tokens"]
checks.positive_data_acceptance.expected-statuses = ["2XX", "401", "403", "404", "409", "422"]

# An image reference's name part is at most 255 characters (Docker's limit) within a reference of up to 512:
# a length no JSON Schema pattern can count.
[[operations]]
include-name = ["POST /api/v1/jobs/custom"]
checks.positive_data_acceptance.expected-statuses = ["2XX", "401", "403", "404", "409", "422"]

# What a model's state decides: a gate metric must be one of the model's scenario's, a version to promote or alias
# must come from a finished run (and not be the champion already), a rollback needs an earlier champion, and a
# serving of a model needs the version it names ('latest' of a model with no version yet, an alias not set).
[[operations]]
include-name = [
    "PATCH /api/v1/models/{model_id}",
    "POST /api/v1/models/{model_id}/promote",
    "POST /api/v1/models/{model_id}/rollback",
    "PUT /api/v1/models/{model_id}/aliases/{alias}",
    "POST /api/v1/servings",
]
checks.positive_data_acceptance.expected-statuses = ["2XX", "401", "403", "404", "409", "422"]
"""


def fuzz(url: str, token: str, report: Path, *, mallory_id: int) -> subprocess.CompletedProcess[str]:
    config = report.parent / "schemathesis.toml"
    config.write_text(CONFIG.replace("MALLORY_ID", str(mallory_id)))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(config),
            "run",
            f"{url}/api/v1/openapi.json",
            "--url",
            url,
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--continue-on-failure",
            "--workers",
            "1",
            "--phases",
            "examples,coverage,fuzzing",
            "--generation-database",
            "none",
            "--report",
            "json",
            "--report-json-path",
            str(report),
            "--no-color",
        ],
        cwd=report.parent,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )


def test_the_fuzzer_finds_the_api_document_exact(api_server, api_operations, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # The operator's team holds a dataset, so a fuzzed DELETE /teams/{id} cannot take away the team every
    # create without a team_id goes to (a team with resources is never deleted).
    from sqlmodel import select

    from catalog.db import session_scope
    from catalog.models import User

    with api_server.client() as operator:
        operator.datasets.create("keeps-the-team", "anomaly_detection")
    with session_scope() as session:
        mallory_id = session.exec(select(User.id).where(User.username == "mallory")).one()
    report_path = tmp_path / "report.json"
    run = fuzz(api_server.url, api_server.operator_token, report_path, mallory_id=int(mallory_id or 0))
    assert report_path.is_file(), run.stdout[-5_000:] + run.stderr[-5_000:]
    report = json.loads(report_path.read_text())
    assert report["operations"]["tested"] == len(api_operations), report["operations"]
    assert report["operations"]["errored"] == 0, run.stdout[-20_000:]
    assert report["failures"] == [] and report["errors"] == [], run.stdout[-30_000:] + run.stderr[-5_000:]
    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
    assert api_server.operator_token not in api_server.log()
