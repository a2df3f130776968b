"""Starting, watching and stopping the embedded platform (`mlops up`, `mlops down`, `mlops status`).

Each component runs in its own session (process group) with output to its log file; its pid and process
create time go to ``{data_dir}/run/platform.json`` as soon as it starts, so ``down`` from another process
(or after a crash) finds everything, and a reused pid is never mistaken for a component.
A component that dies while the foreground `mlops up` runs is restarted with back-off (the rules are in
``infra.embedded.restarts``); the platform keeps running, and the state file says what happened
(``mlops status``, the dashboard's banner).
Running a single component (spawn, health wait, stop) lives in ``infra.embedded.process``.
"""

from __future__ import annotations

import fcntl
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from infra import procs
from infra.embedded.components import ComponentSpec, build_components, run_dir
from infra.embedded.process import (
    AlreadyRunningError,
    PlatformError,
    RunningComponent,
    healthy,
    start_component,
    stop_all,
    stop_component,
    stop_process_group,
    tail,
    wait_healthy,
)
from infra.embedded.restarts import (
    ComponentLife,
    Phase,
    RestartPolicy,
    due,
    on_exit,
    on_healthy,
    on_restart,
    on_start_failed,
)
from infra.embedded.statefile import alive_entries, read_state, state_file, write_state
from infra.net import http_ok
from infra.settings import Settings
from infra.settings.secrets import ensure_private_dir

Echo = Callable[[str], None]

__all__ = [
    "AlreadyRunningError",
    "ComponentStatus",
    "PlatformError",
    "PlatformHandle",
    "down",
    "run_foreground",
    "state_file",
    "status",
    "up",
]


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    alive: bool
    healthy: bool
    url: str
    state: str = "running"


@dataclass
class PlatformHandle:
    settings: Settings
    components: list[RunningComponent] = field(default_factory=list)

    def urls(self) -> dict[str, str]:
        return {c.spec.name: c.spec.url for c in self.components}

    def stop(self) -> None:
        stop_all(self.components)
        state_file(self.settings).unlink(missing_ok=True)


@contextmanager
def _start_lock(settings: Settings) -> Iterator[None]:
    """Two `mlops up` at once must not both pass the "already running" check."""
    lock_path = ensure_private_dir(run_dir(settings)) / "platform.lock"
    with lock_path.open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise AlreadyRunningError("another `mlops up` is starting the platform right now") from exc
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# -- the platform -------------------------------------------------------------------------------------------


def _resolve(settings: Settings, components: Iterable[str | ComponentSpec] | None) -> list[ComponentSpec]:
    if components is None:
        return [s for s in build_components(settings) if s.enabled]
    items = list(components)
    names = [c for c in items if isinstance(c, str)]
    by_name = {s.name: s for s in build_components(settings, names)} if names else {}
    specs = [by_name[c] if isinstance(c, str) else c for c in items]
    return [s for s in specs if s.enabled]


def up(
    settings: Settings,
    *,
    components: Iterable[str | ComponentSpec] | None = None,
    echo: Echo = print,
    _supervisor_pid: int | None = None,
) -> PlatformHandle:
    """Start every enabled component in order and wait until each is healthy.

    ``components``: names (subset of the platform) or ready-made specs; default: every enabled component.
    Raises ``AlreadyRunningError`` when a platform from this data directory still runs, ``PlatformError``
    when a component fails (after printing its log tail and stopping everything it started).
    """
    ensure_private_dir(settings.platform.data_dir)
    specs = _resolve(settings, components)
    timeout_default = settings.platform.startup_timeout_seconds
    with _start_lock(settings):
        alive = alive_entries(read_state(settings))
        if alive:
            listing = ", ".join(f"{c['name']} (pid {c['pid']})" for c in alive)
            raise AlreadyRunningError(
                f"mlops-lite is already running from {settings.platform.data_dir}: {listing}. "
                "Run `mlops down` first."
            )
        state_file(settings).unlink(missing_ok=True)
        handle = PlatformHandle(settings=settings)
        for spec in specs:
            echo(f"starting {spec.name} ...")
            started = time.monotonic()
            try:
                running = start_component(spec)
                handle.components.append(running)
                write_state(settings, handle.components, _supervisor_pid)
                wait_healthy(running, spec.startup_timeout_seconds or timeout_default)
            except PlatformError as exc:
                log_tail = tail(spec.log_file)
                if log_tail:
                    echo(f"--- last lines of {spec.log_file} ---\n{log_tail}\n---")
                echo(f"{exc}; stopping the components started so far")
                handle.stop()
                raise PlatformError(f"{exc} (log: {spec.log_file})") from exc
            except BaseException:
                handle.stop()  # Ctrl-C during startup leaves nothing behind either
                raise
            echo(f"  {spec.name} healthy in {time.monotonic() - started:.1f}s")
    width = max((len(c.spec.label) for c in handle.components), default=0)
    for c in handle.components:
        echo(f"  {c.spec.label.ljust(width)}  {c.spec.url}")
    return handle


def run_foreground(
    settings: Settings,
    *,
    components: Iterable[str | ComponentSpec] | None = None,
    echo: Echo = print,
    on_ready: Callable[[PlatformHandle], None] | None = None,
) -> int:
    """`mlops up`: start the platform, then keep it running (restarting a component that dies, see
    ``infra.embedded.restarts``) until Ctrl-C/SIGTERM; stop everything.

    Returns the exit status: 0 after a requested stop, 130 when interrupted while starting.
    """
    stop_requested = threading.Event()
    starting = True

    def request_stop(signum: int, _frame: object) -> None:
        stop_requested.set()
        if starting:
            # Interrupts the health wait at once; up() stops what it started before re-raising.
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            handle = up(settings, components=components, echo=echo, _supervisor_pid=os.getpid())
        except KeyboardInterrupt:
            echo("interrupted during startup; every component started was stopped")
            return 130
        starting = False
        try:
            if on_ready is not None:
                on_ready(handle)
            echo("platform running; Ctrl-C stops it")
            keeper = _Keeper(
                settings,
                handle,
                echo,
                RestartPolicy(
                    base_seconds=settings.platform.restart_base_seconds,
                    max_seconds=settings.platform.restart_max_seconds,
                ),
            )
            while not stop_requested.wait(0.5):
                keeper.round()
            echo("stopping the platform ...")
            return 0
        finally:
            handle.stop()
            stop_workloads(settings, echo=echo)
            echo("platform stopped")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Keeper:
    """The foreground loop's body: notice dead components and restart them by the rules of ``restarts``."""

    def __init__(self, settings: Settings, handle: PlatformHandle, echo: Echo, policy: RestartPolicy) -> None:
        self.settings, self.handle, self.echo, self.policy = settings, handle, echo, policy
        now = time.time()
        self.lives = {c.spec.name: ComponentLife(started_at=now) for c in handle.components}

    def _save(self) -> None:
        write_state(self.settings, self.handle.components, os.getpid(), self.lives)

    def round(self) -> None:
        changed = False
        for index, component in enumerate(self.handle.components):
            name, now = component.spec.name, time.time()
            life = self.lives[name]
            if life.phase == Phase.RUNNING and not component.alive():
                life = on_exit(life, now=now, exit_code=component.exit_code(), policy=self.policy)
                # At once, not at the restart: what is left of its process group (a flow run of the deployment
                # server, say) must not go on working unsupervised, racing whatever the restart reconciles.
                stop_component(component)
                self.echo(
                    f"{name} exited unexpectedly (code {life.last_exit_code}); restarting it in "
                    f"{(life.restart_at or now) - now:.0f} s (the platform keeps running)"
                )
                log_tail = tail(component.spec.log_file)
                if log_tail:
                    self.echo(f"--- last lines of {component.spec.log_file} ---\n{log_tail}\n---")
            elif due(life, now=now):
                stop_component(component)  # whatever is left of the old process group
                try:
                    self.handle.components[index] = start_component(component.spec)
                    life = on_restart(life, now=now)
                    self.echo(
                        f"{name} restarted (attempt {life.failures_in_a_row}, pid "
                        f"{self.handle.components[index].pid})"
                    )
                except PlatformError as exc:
                    life = on_start_failed(life, now=now, policy=self.policy)
                    self.echo(
                        f"{name} could not be restarted: {exc}; next attempt in "
                        f"{(life.restart_at or now) - now:.0f} s"
                    )
            elif life.phase == Phase.STARTING:
                life = self._check_started(component, life, now)
            if life != self.lives[name]:
                self.lives[name], changed = life, True
        if changed:
            self._save()

    def _check_started(self, component: RunningComponent, life: ComponentLife, now: float) -> ComponentLife:
        spec = component.spec
        timeout = spec.startup_timeout_seconds or self.settings.platform.startup_timeout_seconds
        if not component.alive():
            self.echo(f"{spec.name} exited again while restarting (code {component.exit_code()})")
            return on_start_failed(life, now=now, policy=self.policy)
        if healthy(spec):
            try:
                if spec.after_healthy is not None:
                    spec.after_healthy()
            except Exception as exc:  # noqa: BLE001 - e.g. buckets not creatable yet: try again next round
                self.echo(f"{spec.name}: post-start step failed, retrying: {exc}")
                return life
            self.echo(f"{spec.name} healthy again")
            return on_healthy(life)
        if now - life.started_at > timeout:
            self.echo(f"{spec.name} did not become healthy within {timeout:g} s after its restart")
            stop_component(component)
            return on_start_failed(life, now=now, policy=self.policy)
        return life


def _keep_marker(settings: Settings) -> Path:
    return run_dir(settings) / "keep-workloads"


def stop_workloads(settings: Settings, *, echo: Echo = print, keep: bool = False) -> None:
    """Training and serving processes of the process runtime end with the platform that launched them,
    unless kept (setting, or `mlops down --keep-workloads`). Docker and Kubernetes containers are not the
    platform's processes: they outlive it by design."""
    from infra.runtime.registry import get_runtime

    marker = _keep_marker(settings)
    keep = keep or settings.runtime.keep_workloads or marker.exists()
    marker.unlink(missing_ok=True)
    if settings.runtime.name != "process":
        return
    runtime = get_runtime(settings=settings)
    for container in runtime.list():
        if not container.is_alive:
            continue
        if keep:
            echo(f"left running: {container.name}")
        else:
            echo(f"stopping {container.name} ...")
            runtime.stop(container.name)


def down(
    settings: Settings, *, echo: Echo = print, timeout: float = 60.0, keep_workloads: bool = False
) -> bool:
    """Stop the platform recorded in the state file (from any process), then the workloads it launched.
    True when something was running."""
    state = read_state(settings)
    if state is None:
        stop_workloads(settings, echo=echo, keep=keep_workloads)
        return False  # nothing to say: the caller reports "not running" in its own words
    was_running = bool(alive_entries(state))
    sup_pid = state.get("supervisor_pid")
    supervisor_ref = procs.ProcessRef(int(sup_pid), state.get("supervisor_create_time")) if sup_pid else None
    if supervisor_ref is not None and sup_pid != os.getpid() and supervisor_ref.alive():
        if keep_workloads:
            _keep_marker(settings).parent.mkdir(parents=True, exist_ok=True)
            _keep_marker(settings).touch()  # read by the foreground `mlops up` as it stops
        # Ask the foreground `mlops up` to stop its own components, so it exits cleanly instead of
        # reporting each of them as crashed.
        os.kill(int(sup_pid), signal.SIGTERM)
        if not procs.wait_exit([supervisor_ref], timeout=timeout, interval=0.2):
            echo(f"`mlops up` (pid {sup_pid}) did not exit; stopping its components directly")
    entries = state.get("components", [])
    for entry in reversed(entries):
        if procs.alive(int(entry["pid"]), entry.get("create_time")):
            echo(f"stopping {entry['name']} (pid {entry['pid']}) ...")
        stop_process_group(
            int(entry["pid"]),
            entry.get("create_time"),
            grace=float(entry.get("stop_grace_seconds", 10.0)),
            term_signals=int(entry.get("term_signals", 1)),
        )
    path = state_file(settings)
    path.unlink(missing_ok=True)
    stop_workloads(settings, echo=echo, keep=keep_workloads)
    echo(
        "platform stopped" if was_running else f"removed the stale state file of a stopped platform ({path})"
    )
    return was_running


def status(settings: Settings) -> list[ComponentStatus]:
    """One row per started component: recorded pid, alive (same process), healthy (its check passes now).
    Empty when the platform is not running."""
    state = read_state(settings)
    if not state:
        return []  # never started, or stopped cleanly
    specs = {s.name: s for s in build_components(settings)}
    rows: list[ComponentStatus] = []
    for entry in state.get("components", []):
        alive = procs.alive(int(entry["pid"]), entry.get("create_time"))
        spec = specs.get(entry["name"])
        if not alive:
            ok = False
        elif entry.get("health_url"):
            # The recorded URL is what this very process answers on, even if settings changed since.
            ok = http_ok(str(entry["health_url"]))
        else:
            ok = spec is not None and healthy(spec)
        rows.append(
            ComponentStatus(
                entry["name"],
                int(entry["pid"]),
                alive,
                ok,
                str(entry.get("url", "")),
                str(entry.get("state", "running")) if alive else "stopped",
            )
        )
    return rows


def problems(settings: Settings) -> list[str]:
    """Components of a running platform that are not running normally, one line each (the dashboard's
    banner): read from the state file and process table only, so it is cheap enough for every page view."""
    state = read_state(settings)
    if not state:
        return []
    out: list[str] = []
    for entry in state.get("components", []):
        if entry.get("phase", Phase.RUNNING.value) != Phase.RUNNING.value:
            out.append(f"{entry['name']}: {entry.get('state', 'restarting')}")
        elif not procs.alive(int(entry["pid"]), entry.get("create_time")):
            out.append(f"{entry['name']}: not running")
    return out
