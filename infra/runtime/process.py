"""The ``process`` runtime, the embedded default: each container is a local process group.

Owns the state directory ``{data_dir}/runtime/process/``: per container ``<name>.json`` (state, see
``infra.runtime.launcher`` for the write protocol), ``<name>.log`` (stdout + stderr) and ``work/<name>/``
(the working directory, so concurrent runs never share one; a spec's ``inputs`` are fetched by the launcher
into ``work/<name>/input/`` before the command starts). Containers run detached under
``python -m infra.runtime.launcher``, so they outlive the process that started them, and any later
``ProcessRuntime`` on the same data directory can report on them and stop them.

There is no image: the command runs on this host as the platform's OS user, a leading ``python`` as this
interpreter (the platform's venv), whatever the spec's image (recorded only) — a custom job's command too.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from infra.net import wait_until
from infra.procs import ProcessRef, alive, signal_group_of, wait_exit, wait_pid_exit
from infra.runtime.base import (
    ContainerExistsError,
    ContainerRuntime,
    ContainerSpec,
    ContainerState,
    ContainerStatus,
    RuntimeError_,
)
from infra.runtime.inputs import records
from infra.runtime.launcher import STATE_FORMAT, create_state, now_iso, read_state, write_state
from infra.settings import Settings, get_settings

# The environment a container inherits from the platform; everything else must come from spec.env, so
# secrets of the platform process (database passwords, tokens) never leak into user code by accident.
INHERITED_ENV = ("PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")
# Python images conventionally set this; without it a training run's progress reaches the log in 8 KiB lumps.
DEFAULT_ENV = {"PYTHONUNBUFFERED": "1"}
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")
# A cold interpreter on a loaded 2-core machine can take seconds to start; only a hung launcher hits this.
LAUNCH_TIMEOUT_SECONDS = 60.0
KILL_TIMEOUT_SECONDS = 10.0
_POLL_SECONDS = 0.05
VANISHED_DETAIL = "the launcher vanished without recording an exit code (killed, or the machine restarted)"

# Launchers started by this interpreter are its children: poll them so they do not linger as zombies.
_children: dict[int, subprocess.Popen[bytes]] = {}
_children_lock = threading.Lock()


def _reap_children() -> None:
    with _children_lock:
        for pid, proc in list(_children.items()):
            if proc.poll() is not None:
                del _children[pid]


def _ref(state: dict[str, Any], pid_key: str, time_key: str) -> ProcessRef | None:
    """A process recorded in the state file, if its pid is a pid at all (the file may have been edited)."""
    pid, created = state.get(pid_key), state.get(time_key)
    if not isinstance(pid, int) or isinstance(pid, bool):
        return None
    return ProcessRef(pid, created if isinstance(created, (int, float)) else None)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


class ProcessRuntime(ContainerRuntime):
    """Containers as local process groups, tracked by state files under the platform's data directory."""

    name: ClassVar[str] = "process"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.state_dir = self.settings.platform.data_dir / "runtime" / "process"
        self.exit_check_seconds = self.settings.runtime.exit_check_seconds

    # -- paths ---------------------------------------------------------------------------------------------
    def _check_name(self, name: str) -> str:
        if not _NAME_RE.fullmatch(name):
            raise ValueError(f"invalid container name {name!r}: letters, digits, '_', '.', '-' (max 200)")
        return name

    def state_path(self, name: str) -> Path:
        return self.state_dir / f"{self._check_name(name)}.json"

    def log_path(self, name: str) -> Path:
        return self.state_dir / f"{self._check_name(name)}.log"

    def work_dir(self, name: str) -> Path:
        return self.state_dir / "work" / self._check_name(name)

    def input_dir(self, name: str) -> Path:
        """Where a container's ``inputs`` are put (``MLOPS_INPUT_DIR`` inside it)."""
        return self.work_dir(name) / "input"

    def _read(self, name: str) -> dict[str, Any] | None:
        return read_state(self.state_path(name))

    # -- start ---------------------------------------------------------------------------------------------
    def _argv(self, command: Sequence[str]) -> list[str]:
        argv = [str(part) for part in command]
        if not argv:
            raise ValueError("a container needs a command")
        if argv[0] == "python":
            argv[0] = sys.executable
        return argv

    def _environment(self, spec: ContainerSpec) -> dict[str, str]:
        env = {key: os.environ[key] for key in INHERITED_ENV if key in os.environ}
        env.update(DEFAULT_ENV)
        env.update({str(k): str(v) for k, v in spec.env.items()})
        env.update(spec.input_env(str(self.input_dir(spec.name))))
        return env

    def start(self, spec: ContainerSpec) -> ContainerStatus:
        argv = self._argv(spec.command)
        state_path = self.state_path(spec.name)
        log_path, work_dir = self.log_path(spec.name), self.work_dir(spec.name)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        record = {
            "format": STATE_FORMAT,
            "name": spec.name,
            "kind": str(spec.kind),
            "command": argv,
            "labels": dict(spec.labels),
            "port": spec.port,
            "image": spec.image,
            "created_at": now_iso(),
            "log": str(log_path),
            "workdir": str(work_dir),
        }
        if spec.inputs:
            record["inputs"] = records(spec.inputs, str(self.input_dir(spec.name)))
        if not create_state(state_path, record):
            raise ContainerExistsError(f"container {spec.name!r} already exists (remove it first)")
        # From here the name is ours: nobody else touches this log or work dir until the state is removed.
        try:
            work_dir.mkdir(parents=True, exist_ok=True)
            with open(log_path, "wb") as log:
                launcher = subprocess.Popen(
                    [sys.executable, "-m", "infra.runtime.launcher", "--state", str(state_path), "--", *argv],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self._environment(spec),
                    cwd=work_dir,
                    start_new_session=True,  # survives the caller, and its pid is the group to signal
                    close_fds=True,
                )
        except OSError as exc:
            self._delete_files(spec.name)
            raise RuntimeError_(f"could not launch container {spec.name!r}: {exc}") from exc
        with _children_lock:
            _children[launcher.pid] = launcher
        self._await_launch(spec.name, launcher)
        return self.status([spec.name])[spec.name]

    def _await_launch(self, name: str, launcher: subprocess.Popen[bytes]) -> None:
        """Wait until the launcher recorded the child (or an exit); record a failure if it could not."""

        def launched() -> bool:
            state = self._read(name) or {}
            # A launcher that recorded itself is fetching the inputs (as long as that takes: still pending).
            return (
                any(k in state for k in ("pid", "exit_code", "launcher_pid")) or launcher.poll() is not None
            )

        try:
            wait_until(
                launched,
                timeout=LAUNCH_TIMEOUT_SECONDS,
                interval=_POLL_SECONDS,
                description=f"launch of {name}",
            )
        except TimeoutError:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait(KILL_TIMEOUT_SECONDS)
            detail = f"the launcher did not start the command within {LAUNCH_TIMEOUT_SECONDS:.0f}s"
            self._record_exit_if_missing(name, 128 + signal.SIGKILL, detail)
            return
        if launcher.poll() is not None:
            # The launcher is gone, so writing the state now cannot race with it.
            tail = self.logs(name, tail=5).strip()
            self._record_exit_if_missing(
                name, launcher.returncode or 1, f"the launcher failed (exit {launcher.returncode}): {tail}"
            )

    def _record_exit_if_missing(self, name: str, exit_code: int, detail: str) -> None:
        state = self._read(name)
        if state is not None and "exit_code" not in state:
            state.update(exit_code=exit_code, finished_at=now_iso(), detail=detail)
            write_state(self.state_path(name), state)

    # -- status --------------------------------------------------------------------------------------------
    def status(self, names: Sequence[str]) -> dict[str, ContainerStatus]:
        _reap_children()
        return {name: self._status_of(name) for name in names}

    def _status_of(self, name: str, state: dict[str, Any] | None = None) -> ContainerStatus:
        try:
            if state is None:
                state = self._read(name)
        except ValueError as exc:
            return ContainerStatus(name, ContainerState.UNKNOWN, detail=f"unreadable state file: {exc}")
        if state is None:
            return ContainerStatus(name, ContainerState.NOT_FOUND)
        state_kind, detail = self._classify(state)
        if state_kind is None:  # the launcher finished between our reads: classify its record
            state = self._read(name) or state
            state_kind, detail = self._classify(state, recheck=False)
        exit_code = state.get("exit_code")
        return ContainerStatus(
            name=name,
            state=state_kind or ContainerState.UNKNOWN,
            exit_code=exit_code if isinstance(exit_code, int) else None,
            port=state.get("port"),
            detail=detail,
            started_at=_parse_time(state.get("started_at")),
            finished_at=_parse_time(state.get("finished_at")),
            labels=dict(state.get("labels") or {}),
        )

    def _classify(self, state: dict[str, Any], *, recheck: bool = True) -> tuple[ContainerState | None, str]:
        """Map a state record to a state; None means "re-read, it may have just been completed"."""
        if "exit_code" in state:
            ended = ContainerState.EXITED if state["exit_code"] == 0 else ContainerState.FAILED
            return ended, str(state.get("detail", ""))
        if "pid" not in state and alive(state.get("launcher_pid"), state.get("launcher_create_time")):
            return ContainerState.PENDING, "fetching inputs"
        if "pid" not in state:
            created = _parse_time(state.get("created_at"))
            age = (datetime.now(created.tzinfo) - created).total_seconds() if created else float("inf")
            if age <= LAUNCH_TIMEOUT_SECONDS + KILL_TIMEOUT_SECONDS:
                return ContainerState.PENDING, "launching"
            return ContainerState.FAILED, "never started: " + VANISHED_DETAIL
        if alive(state.get("pid"), state.get("create_time")):
            return ContainerState.RUNNING, ""
        if alive(state.get("launcher_pid"), state.get("launcher_create_time")):
            return ContainerState.RUNNING, "exiting"  # the launcher is about to record the exit
        if recheck:
            return None, ""
        return ContainerState.FAILED, VANISHED_DETAIL

    def wait_exit(self, name: str, *, timeout: float) -> ContainerStatus | None:
        """Wake on the exit of the command (then of its launcher, which records the exit code) via pidfd.

        Works whoever started the container: a runner watching processes an earlier runner launched.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            current = self.status([name])[name]
            remaining = deadline - time.monotonic()
            if current.has_ended or remaining <= 0:
                return current if current.has_ended else None
            try:
                pid, create_time = self._live_member(self._read(name) or {})
            except ValueError:  # unreadable state: status says UNKNOWN; look again shortly
                pid, create_time = None, None
            wait = min(remaining, self.exit_check_seconds)
            if pid is None:  # launching (no pid recorded yet)
                time.sleep(wait)
            else:
                wait_pid_exit(pid, create_time, wait)

    @staticmethod
    def _live_member(state: dict[str, Any]) -> tuple[int | None, float | None]:
        """The process whose exit comes next: the command while it runs, then its launcher."""
        for pid_key, time_key in (("pid", "create_time"), ("launcher_pid", "launcher_create_time")):
            if alive(state.get(pid_key), state.get(time_key)):
                create_time = state.get(time_key)
                return state[pid_key], create_time if isinstance(create_time, (int, float)) else None
        return None, None

    # -- stop / remove -------------------------------------------------------------------------------------
    def stop(self, name: str, *, timeout: float | None = None) -> None:
        timeout = self.settings.runtime.stop_timeout_seconds if timeout is None else timeout
        _reap_children()
        try:
            state = self._read(name)
        except ValueError:
            return
        if state is None:
            return
        launcher = _ref(state, "launcher_pid", "launcher_create_time")
        refs = [ref for ref in (launcher, _ref(state, "pid", "create_time")) if ref is not None]
        if not any(ref.alive() for ref in refs):
            return
        # Through the launcher when it lives: it signals the group once and records the stop.
        if launcher is not None and launcher.alive():
            try:
                os.kill(launcher.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        else:
            self._signal_group(refs, signal.SIGTERM)
        if wait_exit(refs, timeout=timeout, interval=_POLL_SECONDS, poll=_reap_children):
            return
        self._signal_group(refs, signal.SIGKILL)
        if not wait_exit(refs, timeout=KILL_TIMEOUT_SECONDS, interval=_POLL_SECONDS, poll=_reap_children):
            raise RuntimeError_(f"container {name!r} survived SIGKILL for {KILL_TIMEOUT_SECONDS:.0f}s")
        self._record_exit_if_missing(
            name, 128 + signal.SIGKILL, f"stopped: killed by SIGKILL after the {timeout:g}s stop timeout"
        )

    @staticmethod
    def _signal_group(refs: list[ProcessRef], sig: signal.Signals) -> None:
        """Signal the container's process group through the first recorded process still running."""
        for ref in refs:
            if signal_group_of(ref, sig):
                return

    def remove(self, name: str, *, force: bool = False) -> None:
        current = self.status([name])[name]
        if current.state is ContainerState.NOT_FOUND:
            return
        if current.is_alive:
            if not force:
                raise RuntimeError_(
                    f"container {name!r} is {current.state}; stop it first or pass force=True"
                )
            self.stop(name)
        self._delete_files(name)

    def _delete_files(self, name: str) -> None:
        # The state file goes last: until it is gone nobody else can claim the name and reuse these paths.
        self.log_path(name).unlink(missing_ok=True)
        shutil.rmtree(self.work_dir(name), ignore_errors=True)
        self.state_path(name).unlink(missing_ok=True)

    # -- logs / list / url ---------------------------------------------------------------------------------
    def logs(self, name: str, *, tail: int | None = None) -> str:
        try:
            with open(self.log_path(name), "rb") as fh:
                data = _tail_bytes(fh, tail) if tail is not None else fh.read()
        except FileNotFoundError:
            return ""
        return data.decode("utf-8", errors="replace")

    def list(self, *, labels: Mapping[str, str] | None = None) -> list[ContainerStatus]:
        _reap_children()
        wanted = dict(labels or {})
        result = []
        for path in sorted(self.state_dir.glob("*.json")) if self.state_dir.is_dir() else []:
            status = self._status_of(path.stem)
            if status.state is ContainerState.NOT_FOUND:
                continue  # removed while we listed
            if all(status.labels.get(k) == v for k, v in wanted.items()):
                result.append(status)
        return result

    def inference_url(self, name: str, port: int | None) -> str:
        return self.host_port_url(name, port, self.settings.runtime.serving_host)


def _tail_bytes(fh: Any, lines: int) -> bytes:
    """The last ``lines`` lines of a binary file, reading backwards in blocks (training logs grow large)."""
    if lines <= 0:
        return b""
    end = fh.seek(0, os.SEEK_END)
    pos, data = end, b""
    # One more newline than lines wanted, because the file usually ends with one.
    while pos > 0 and data.count(b"\n") <= lines:
        step = min(65536, pos)
        pos -= step
        fh.seek(pos)
        data = fh.read(step) + data
    kept = data.splitlines(keepends=True)[-lines:]
    return b"".join(kept)
