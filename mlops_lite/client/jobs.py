"""``client.jobs``: training jobs (create, list, show, update, start, stop, progress, wait) and their MLflow runs
(list, params, metrics, soft delete and restore, model download, streamed to a file).

``create``, ``get``, ``update`` and ``wait`` answer a ``Job``: the job's fields plus the calls acting on it::

    job = client.jobs.create("nightly", scenario="anomaly_detection", algorithm="ECOD", release_id=3)
    job.start()
    job = job.wait(timeout=1800)          # the job once it ended: completed, failed or stopped
    job.download_model(Path("models"))    # its latest run's model, as a zip
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import PrivateAttr

from mlops_lite.client.errors import NotFound, TimedOut
from mlops_lite.client.transport import Transport, team_filter
from mlops_lite.schemas.common import Page
from mlops_lite.schemas.jobs import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    CreateJob,
    JobDetail,
    JobOut,
    MetricPoint,
    RunDeleted,
    RunOut,
    UpdateJob,
)
from mlops_lite.schemas.runs import Launch, Progress

# Prefect's final flow run states: a flow run in one of them does no more work.
FINAL_FLOW_STATES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})


class Job(JobDetail):
    """A training job as the API answered it, with the calls that act on it. Its fields are a snapshot:
    ``refresh()`` reads the job again."""

    _jobs: Jobs | None = PrivateAttr(default=None)
    _flow_run_id: str | None = PrivateAttr(default=None)  # the flow run of this handle's last start

    def _api(self) -> Jobs:
        if self._jobs is None:
            raise RuntimeError("this Job was not read through a client (use client.jobs.get)")
        return self._jobs

    def refresh(self) -> Job:
        return self._api().get(self.id)

    def update(
        self,
        *,
        params: dict[str, Any] | None = None,
        release_id: int | None = None,
        max_evals: int | None = None,
    ) -> Job:
        return self._api().update(self.id, params=params, release_id=release_id, max_evals=max_evals)

    def start(self) -> Launch:
        """Start the job; ``wait()`` then follows this start (not an earlier one that ended)."""
        launched = self._api().start(self.id)
        self._flow_run_id = launched.flow_run_id
        return launched

    def stop(self) -> Launch:
        return self._api().stop(self.id)

    def wait(self, *, timeout: float = 3600.0, poll: float = 2.0) -> Job:
        """The job once it ended (completed, failed or stopped); ``TimedOut`` at the deadline (the work goes
        on)."""
        return self._api().wait(self.id, timeout=timeout, poll=poll, flow_run_id=self._flow_run_id)

    def runs(self, *, deleted: bool = False) -> list[RunOut]:
        return self._api().runs(self.id, deleted=deleted)

    def download_model(self, dest: Path | str, *, run_id: str | None = None) -> Path:
        return self._api().download_model(self.id, dest, run_id=run_id)


class Jobs:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def _job(self, path: str, method: str = "GET", body: Any = None) -> Job:
        job = self._t.get(path, Job) if method == "GET" else self._t.send(method, path, Job, body)
        job._jobs = self
        return job

    def create(
        self,
        name: str,
        *,
        scenario: str,
        algorithm: str | int,
        release_id: int,
        params: dict[str, Any] | None = None,
        max_evals: int = 0,
        description: str = "",
        team_id: int | None = None,
        model: str | int | None = None,
        auto_promote: bool = False,
    ) -> Job:
        """A new job (not started); ``params`` are checked against the algorithm's declarations
        (``InvalidRequest`` naming the field, and nothing is created). ``model``: the team's model (name or id)
        its versions go to (default: the model named after the job); ``auto_promote``: each completed start asks
        that model's promotion gate."""
        body = CreateJob(
            name=name,
            scenario=scenario,
            algorithm=algorithm,
            release_id=release_id,
            params=params or {},
            max_evals=max_evals,
            description=description,
            team_id=team_id,
            model=model,
            auto_promote=auto_promote,
        )
        return self._job("/jobs", "POST", body)

    def get(self, job_id: int) -> Job:
        return self._job(f"/jobs/{job_id}")

    def page(
        self,
        *,
        offset: int = 0,
        limit: int = 50,
        search: str | None = None,
        scenario: str | None = None,
        status: str | None = None,
        team_id: int | None = None,
        include_children: bool = False,
    ) -> Page[JobOut]:
        return self._t.page(
            "/jobs",
            JobOut,
            offset=offset,
            limit=limit,
            q=search,
            scenario=scenario,
            status=status,
            **team_filter(team_id, include_children),
        )

    def list(
        self,
        *,
        search: str | None = None,
        scenario: str | None = None,
        status: str | None = None,
        team_id: int | None = None,
        include_children: bool = False,
    ) -> Iterator[JobOut]:
        """Every job the caller sees, or of one team (``include_children``: and of the teams below it), newest
        first (pages fetched as the iteration goes)."""
        teams = team_filter(team_id, include_children)
        return self._t.pages("/jobs", JobOut, q=search, scenario=scenario, status=status, **teams)

    def update(
        self,
        job_id: int,
        *,
        params: dict[str, Any] | None = None,
        release_id: int | None = None,
        max_evals: int | None = None,
    ) -> Job:
        """Change what is given (the job must not be starting or running: ``Conflict``)."""
        given = {"params": params, "release_id": release_id, "max_evals": max_evals}
        body = UpdateJob(**{k: v for k, v in given.items() if v is not None})
        return self._job(f"/jobs/{job_id}", "PATCH", body)

    def start(self, job_id: int) -> Launch:
        """Launch the job's training (``Conflict`` if it is already starting or running); returns at once,
        with the flow run doing it: follow with ``progress`` or ``wait``."""
        return self._t.send("POST", f"/jobs/{job_id}/start", Launch)

    def stop(self, job_id: int) -> Launch:
        return self._t.send("POST", f"/jobs/{job_id}/stop", Launch)

    def progress(self, job_id: int, flow_run_id: str) -> Progress:
        """The flow run of a start or stop beside the job's status."""
        return self._t.get(f"/jobs/{job_id}/progress", Progress, flow_run_id=flow_run_id)

    def wait(
        self, job_id: int, *, timeout: float = 3600.0, poll: float = 2.0, flow_run_id: str | None = None
    ) -> Job:
        """Poll until the job has ended (completed, failed or stopped) and return it; ``TimedOut`` once
        ``timeout`` seconds passed (the work goes on). With ``flow_run_id`` (a start's), until that flow run
        has ended and the job is not active: an earlier start's outcome is not taken for this one's."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if self._ended(job, flow_run_id):
                return job
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimedOut(
                    f"training job {job.name!r} has not ended after {timeout:g} s (status {job.status}); it "
                    f"goes on: wait again, or read it with client.jobs.get({job_id})"
                )
            time.sleep(min(poll, left))

    def _ended(self, job: Job, flow_run_id: str | None) -> bool:
        if flow_run_id is None:
            return job.status in FINAL_STATUSES
        if job.status in ACTIVE_STATUSES:
            return False
        state = self.progress(job.id, flow_run_id).flow_state
        return state is None or state in FINAL_FLOW_STATES

    def runs(self, job_id: int, *, deleted: bool = False) -> list[RunOut]:
        """The job's MLflow runs, newest first (``deleted``: soft-deleted ones too)."""
        return self._t.get_list(f"/jobs/{job_id}/runs", RunOut, deleted=deleted or None)

    def params(self, job_id: int, run_id: str) -> dict[str, str]:
        response = self._t.request("GET", f"/jobs/{job_id}/runs/{run_id}/params")
        return {str(k): str(v) for k, v in response.json().items()}

    def metric_names(self, job_id: int, run_id: str) -> list[str]:
        return [str(name) for name in self._t.request("GET", f"/jobs/{job_id}/runs/{run_id}/metrics").json()]

    def metrics(self, job_id: int, run_id: str, *, metric: str | None = None) -> dict[str, list[MetricPoint]]:
        """Each metric's history (step, timestamp, value), or one metric's."""
        answer = self._t.request(
            "GET",
            f"/jobs/{job_id}/runs/{run_id}/metrics/history",
            params={"metric": metric} if metric else None,
        ).json()
        return {str(name): [MetricPoint.model_validate(p) for p in points] for name, points in answer.items()}

    def delete_run(self, job_id: int, run_id: str) -> RunDeleted:
        """Soft delete (restorable); the running run of a job is refused (``Conflict``)."""
        return self._t.send("DELETE", f"/jobs/{job_id}/runs/{run_id}", RunDeleted)

    def restore_run(self, job_id: int, run_id: str) -> RunDeleted:
        return self._t.send("POST", f"/jobs/{job_id}/runs/{run_id}/restore", RunDeleted)

    def download_model(self, job_id: int, dest: Path | str, *, run_id: str | None = None) -> Path:
        """A finished run's model as a zip, streamed into ``dest`` (a file, or a directory: the server's file
        name is used); the job's latest run when ``run_id`` is None. Returns the file's path."""
        if run_id is None:
            run_id = self.get(job_id).mlflow_run_id
            if run_id is None:
                raise NotFound(f"training job {job_id} has no run yet", status=404, code="not_found")
        return self._t.download(f"/jobs/{job_id}/runs/{run_id}/model", Path(dest))
