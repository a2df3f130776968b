"""``client.custom_jobs``: training jobs that run your own image and command ("bring your own training code").

    job = client.custom_jobs.create(
        "my-train", release_id=7, image="registry.example/team/train:1",
        command=["python", "train.py"], env={"EPOCHS": "3"}, cpu=2, memory="4Gi",
    )

Your command finds the release zip at ``$MLOPS_RELEASE_PATH`` and logs into the MLflow run ``$MLFLOW_RUN_ID``
(tracking URI and credentials are set); the job succeeds when it exits 0 having registered a pyfunc model
version as ``$MLOPS_MODEL_NAME`` from that run — a serving of the job then serves it. Start, stop and follow it
with the generic job calls, as any training job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pydantic

from mlops_lite.client.errors import InvalidRequest
from mlops_lite.client.transport import Transport
from mlops_lite.schemas.custom_jobs import CreateCustomJob, CustomJobOut, parse_memory, spec_problems


class CustomJobs:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def create(
        self,
        name: str,
        release_id: int,
        image: str,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cpu: float | None = None,
        memory: int | str | None = None,
        description: str = "",
        team_id: int | None = None,
        model: str | int | None = None,
        auto_promote: bool = False,
    ) -> CustomJobOut:
        """Create the job (not started). ``cpu`` in cores, ``memory`` in MiB or as ``"512Mi"``/``"2Gi"``; both
        default to the runtime's limits; ``model`` and ``auto_promote`` as ``client.jobs.create``. Invalid specs
        raise ``InvalidRequest`` before anything is sent."""
        try:
            body = CreateCustomJob(
                name=name,
                release_id=release_id,
                image=image,
                command=list(command),
                env=dict(env or {}),
                cpu_limit=cpu,
                memory_limit_mb=parse_memory(memory),
                description=description,
                team_id=team_id,
                model=model,
                auto_promote=auto_promote,
            )
        except pydantic.ValidationError as exc:
            raise InvalidRequest(
                f"invalid custom job: {spec_problems(exc)}", code="validation_error"
            ) from None
        except ValueError as exc:
            raise InvalidRequest(str(exc), code="validation_error") from None
        return self._t.send("POST", "/jobs/custom", CustomJobOut, body)

    def get(self, job_id: int) -> CustomJobOut:
        return self._t.get(f"/jobs/custom/{job_id}", CustomJobOut)
