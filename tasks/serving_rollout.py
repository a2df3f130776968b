"""Rolling a running serving forward (or back) to the version its reference names now, without dropping a request.

The inference server does the switch itself (``algorithms.serve.loading``): told ``POST /admin/model`` with the
platform's control token (``catalog.services.serving.control_token``), it loads the version beside the one it
serves, warms it up, swaps it in with one assignment and releases the old one. The same HTTP call works on every
runtime (process, Docker, Kubernetes): the URL stays, no second container or port is needed. This task asks, then
follows the server's ``/health`` until it serves the target (or reports why it could not), and records the
version in the catalog.
"""

from __future__ import annotations

import time

import httpx
from prefect import task

from catalog.db import session_scope
from catalog.models import Serving
from catalog.scoping import SYSTEM
from catalog.services import serving as serving_service
from tasks.serving import READY_TIMEOUT_SECONDS, inference_url, resolve_target, server_health

POLL_SECONDS = 0.2


class RollForwardError(RuntimeError):
    """The server did not end up serving the target version (its load error, or no answer in time)."""


def control_url(serving: Serving) -> str:
    return inference_url(serving).removesuffix("/predict") + "/admin/model"


def served_version(serving: Serving) -> str | None:
    """The version the running server answers with now, as its /health says (None: no answer)."""
    health = server_health(serving)
    version = (health or {}).get("model_version")
    return str(version) if version is not None else None


def tell_server(serving: Serving, path: str, body: dict[str, object]) -> httpx.Response:
    """POST ``body`` to the serving's control endpoint ``path`` (``/admin/model``, ``/admin/traffic``), with the
    platform's control token."""
    return httpx.post(
        inference_url(serving).removesuffix("/predict") + path,
        json=body,
        headers={"Authorization": f"Bearer {serving_service.control_token(serving)}"},
        timeout=30,
        trust_env=False,
    )


def _ask(serving: Serving, model_uri: str, version: str) -> httpx.Response:
    return tell_server(serving, "/admin/model", {"model_uri": model_uri, "version": version})


def _record(serving_id: int, version: str) -> None:
    with session_scope() as session:
        serving_service.record_resolved_version(session, serving_id=serving_id, version=version)


@task(name="roll-serving-forward")
def roll_forward(serving_id: int, timeout: float = READY_TIMEOUT_SECONDS) -> str:
    """Make the running server of ``serving_id`` serve the version its reference resolves to now; returns it.

    Nothing is sent when the server serves it already. A load of another version under way (409, e.g. an
    earlier roll-forward) is waited out and asked again, until ``timeout``."""
    with session_scope() as session:
        serving = serving_service.get_serving(session, actor=SYSTEM, serving_id=serving_id)
    model_uri, target = resolve_target(serving)
    deadline = time.monotonic() + timeout
    asked = False
    last: dict[str, object] | None = None
    while time.monotonic() < deadline:
        last = server_health(serving)
        if last is not None and str(last.get("model_version")) == target:
            _record(serving_id, target)
            return target
        if last is not None and asked and last.get("loading_version") is None and last.get("load_error"):
            raise RollForwardError(
                f"serving {serving_id} could not load version {target}: {last['load_error']}; "
                f"it keeps serving version {last.get('model_version')}"
            )
        if last is not None and not asked:
            # Again just before asking: the reference may have moved since (two moves in a row must end on the
            # later one, whichever roll-forward asks last).
            model_uri, target = resolve_target(serving)
            response = _ask(serving, model_uri, target)
            if response.status_code in (200, 202):
                asked = True
            elif response.status_code != 409:
                raise RollForwardError(
                    f"serving {serving_id} refused to load version {target}: "
                    f"HTTP {response.status_code} {response.text[:300]}"
                )
        time.sleep(POLL_SECONDS)
    raise RollForwardError(
        f"serving {serving_id} did not serve version {target} within {timeout:.0f} s (last /health: {last})"
    )
