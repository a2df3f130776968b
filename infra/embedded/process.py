"""Running one component as a process group: spawn with output to its log, wait for health, stop.

``start_component``/``wait_healthy``/``stop_component`` are shared by the supervisor (`mlops up`) and the
test fixtures, so a server is started, checked and stopped the same way in both. Processes are identified
by pid *and* create time (``infra.procs``), so a reused pid is never mistaken for (or signalled as) a component.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from infra.embedded.components import ComponentSpec
from infra.net import http_ok, port_is_free, wait_until
from infra.procs import ProcessRef, alive, reap, signal_group, started_with, wait_exit
from infra.settings.secrets import ensure_private_dir

LOG_TAIL_LINES = 40
PORT_FREE_TIMEOUT = 5.0


class PlatformError(RuntimeError):
    """`mlops up` could not start the platform; the message says why and what was cleaned up."""


class AlreadyRunningError(PlatformError):
    pass


@dataclass
class RunningComponent:
    spec: ComponentSpec
    pid: int
    create_time: float
    process: subprocess.Popen[bytes] | None = None

    def alive(self) -> bool:
        return alive(self.pid, self.create_time)

    def exit_code(self) -> int | None:
        return self.process.poll() if self.process is not None else None


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            data = fh.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def healthy(spec: ComponentSpec) -> bool:
    if isinstance(spec.health, str):
        return http_ok(spec.health)
    try:
        return bool(spec.health())
    except Exception:  # noqa: BLE001 - a health callable that raises simply means "not healthy yet"
        return False


# -- single components (also used by the test fixtures) -----------------------------------------------------


def start_component(spec: ComponentSpec) -> RunningComponent:
    """Spawn ``spec`` in a new session with output appended to its log; does not wait for health."""
    try:
        # A just-stopped server's closing connections (FIN-WAIT) hold its ports for a moment; a restart on
        # the same ports waits that out instead of failing.
        wait_until(
            lambda: all(port_is_free(p) for p in spec.ports),
            timeout=PORT_FREE_TIMEOUT,
            interval=0.1,
            description=f"{spec.name} ports free",
        )
    except TimeoutError:
        busy = [p for p in spec.ports if not port_is_free(p)]
        raise PlatformError(
            f"{spec.name}: port(s) {busy} already in use; another server is listening there"
        ) from None
    for directory in (*spec.dirs, spec.log_file.parent):
        ensure_private_dir(directory)  # data and logs may hold credentials and other teams' data
    for stale in spec.stale_files:
        stale.unlink(missing_ok=True)
    if spec.prepare is not None:
        try:
            spec.prepare()
        except Exception as exc:
            raise PlatformError(f"{spec.name}: could not write its configuration: {exc}") from exc
    with spec.log_file.open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(spec.argv)}\n".encode())
        log.flush()
        try:
            process = subprocess.Popen(
                spec.argv,
                env=spec.env,
                cwd=spec.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # Whatever a server creates (data, sockets in /tmp, its own logs) is its user's alone.
                umask=0o077,
            )
        except OSError as exc:
            raise PlatformError(f"{spec.name}: cannot run {spec.argv[0]}: {exc}") from exc
    try:
        create_time = psutil.Process(process.pid).create_time()
    except psutil.NoSuchProcess:
        create_time = time.time()
    return RunningComponent(spec=spec, pid=process.pid, create_time=create_time, process=process)


def wait_healthy(running: RunningComponent, timeout: float) -> None:
    """Wait for the component's health check; fails early when its process exits."""
    spec = running.spec

    def exited() -> str | None:
        code = running.exit_code()
        if code is not None:
            return f"{spec.name} exited with code {code} before becoming healthy"
        if running.process is None and not running.alive():
            return f"{spec.name} exited before becoming healthy"
        return None

    try:
        wait_until(
            lambda: healthy(spec),
            timeout=timeout,
            interval=0.2,
            description=f"{spec.name} healthy",
            abort=exited,
        )
    except TimeoutError as exc:
        raise PlatformError(f"{spec.name} did not become healthy within {timeout:g}s") from exc
    except RuntimeError as exc:
        raise PlatformError(str(exc)) from exc
    if spec.after_healthy is not None:
        deadline = time.monotonic() + timeout
        while True:  # e.g. bucket creation: S3 may answer /healthz a moment before it accepts writes
            try:
                spec.after_healthy()
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise PlatformError(f"{spec.name}: post-start step failed: {exc}") from exc
                time.sleep(0.2)


def stop_process_group(
    pid: int,
    create_time: float | None,
    *,
    grace: float = 10.0,
    term_signals: int = 1,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    """SIGTERM the component's whole process group (``term_signals`` times, spread over the grace period),
    then SIGKILL whatever is left. Safe on an already-dead or reused pid."""
    if not alive(pid, create_time):
        _reap(process, pid, create_time)
        _kill_orphans(pid, create_time)
        return
    try:
        members = [ProcessRef.of(proc) for proc in _members(psutil.Process(pid))]
    except psutil.NoSuchProcess:
        members = []
    deadline = time.monotonic() + grace
    gone = False
    for i in range(max(1, term_signals)):
        signal_group(pid, signal.SIGTERM)
        share = deadline - (grace * (term_signals - i - 1) / max(1, term_signals))
        gone = wait_exit(members, timeout=share - time.monotonic(), poll=lambda: _reap(process))
        if gone:
            break
    # Stragglers that left the tree but stayed in the group must not outlive the component either.
    signal_group(pid, signal.SIGKILL)
    if not gone:
        for ref in members:
            if ref.alive():  # checked first: a member's pid may have been reused since it exited
                try:
                    os.kill(ref.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        wait_exit(members, timeout=5, poll=lambda: _reap(process))
    _reap(process, pid, create_time)


WORKLOAD_LAUNCHER = "infra.runtime.launcher"


def _is_workload(proc: psutil.Process) -> bool:
    try:
        return WORKLOAD_LAUNCHER in proc.cmdline()
    except psutil.Error:
        return False


def _members(root: psutil.Process) -> list[psutil.Process]:
    """The component's process and its descendants, except training and serving containers of the process
    runtime (a launcher and everything under it): a flow run of the deployment server starts them, but they
    are workloads with a lifecycle of their own (``supervisor.stop_workloads``, `mlops down --keep-workloads`),
    in their own session, like a container that is not the child of the client that created it."""
    out, stack = [], [root]
    while stack:
        proc = stack.pop()
        out.append(proc)
        try:
            stack.extend(child for child in proc.children() if not _is_workload(child))
        except psutil.Error:
            continue
    return out


def _kill_orphans(pid: int, create_time: float | None) -> None:
    """A component whose main process died (killed, crashed) may leave members of its process group running
    (e.g. a flow run of the deployment server): kill them, so a restarted component never runs beside its
    predecessor's leftovers. Only processes of that very group started after the component are touched (never
    a later process that got the same pid)."""
    if create_time is None:
        return
    for proc in psutil.process_iter():
        try:
            if (
                proc.pid != pid
                and os.getpgid(proc.pid) == pid
                and started_with(proc, create_time)
                and not _is_workload(proc)
            ):
                proc.kill()
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue


def _reap(
    process: subprocess.Popen[bytes] | None, pid: int | None = None, create_time: float | None = None
) -> None:
    if process is not None:
        process.poll()
        return
    if pid is not None:
        # `down` in the very process that ran `up` (tests, `--detach` callers) has no Popen at hand but is
        # still the parent: without a wait the stopped component would linger as a zombie.
        reap(ProcessRef(pid, create_time))


def stop_component(running: RunningComponent) -> None:
    stop_process_group(
        running.pid,
        running.create_time,
        grace=running.spec.stop_grace_seconds,
        term_signals=running.spec.term_signals,
        process=running.process,
    )


def stop_all(components: list[RunningComponent]) -> None:
    for running in reversed(components):
        stop_component(running)
