"""`mlops jobs create-custom`: a training job that runs your own image and command, through the platform API.

Registered onto the `jobs` group by ``cli.main``; start, stop and follow the job with the other `mlops jobs`
commands, as any training job. Imports only typer and the standard library at module level (see cli.main).
"""

from __future__ import annotations

import typer

from cli.common import JsonOpt, TeamOpt, client, emit, handle_errors, team_id_of
from cli.training import AutoPromoteOpt, ModelOpt

CUSTOM_JOB_COLS = [
    "id",
    "name",
    "kind",
    "scenario",
    "status",
    "release_id",
    "image",
    "model_id",
    "model_name",
]


@handle_errors
def create_custom(
    name: str = typer.Argument(..., help="Job name, unique in the team."),
    command: list[str] = typer.Argument(
        ..., help="The command to run in the image and its arguments, after `--` (no shell)."
    ),
    release: int = typer.Option(
        ...,
        "--release",
        "-r",
        help="Release id (`mlops datasets releases DATASET_ID`); the job's scenario is its.",
    ),
    image: str = typer.Option(
        ...,
        "--image",
        help="Image to run, e.g. registry.example/team/train:1 (the process runtime ignores it).",
    ),
    env: list[str] = typer.Option(
        [], "--env", "-e", help="NAME=VALUE added to the container's environment (repeatable)."
    ),
    cpu: float | None = typer.Option(None, "--cpu", help="CPU cores (default: the runtime's limit)."),
    memory: str | None = typer.Option(
        None, "--memory", help="Memory: MiB, or e.g. 512Mi, 2Gi (default: the runtime's limit)."
    ),
    description: str = typer.Option("", "--description", help="Free text shown with the job."),
    model: str | None = ModelOpt,
    auto_promote: bool = AutoPromoteOpt,
    team: str | None = TeamOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create a job running your own code: the release zip is at $MLOPS_RELEASE_PATH, the MLflow run to log into
    in MLFLOW_RUN_ID; it succeeds when the command exits 0 having registered a model as $MLOPS_MODEL_NAME.

    Example: mlops jobs create-custom my-train -r 7 --image registry.example/train:1 -e EPOCHS=3 -- python train.py
    """
    from mlops_lite.schemas.custom_jobs import env_pairs

    api = client()
    job = api.custom_jobs.create(
        name,
        release,
        image,
        command,
        env=env_pairs(env),
        cpu=cpu,
        memory=memory,
        description=description,
        team_id=team_id_of(api, team),
        model=model,
        auto_promote=auto_promote,
    )
    row = job.model_dump(mode="json")
    emit(row if as_json else {k: row[k] for k in CUSTOM_JOB_COLS}, as_json=as_json)
