"""The process runtime's launcher, and the state file format it shares with ``infra.runtime.process``.

``python -m infra.runtime.launcher --state FILE -- ARGV...`` is what the process runtime starts, detached in a
new session, for each container. It runs ARGV as its child in its own process group (it is the group
leader, like PID 1 of a container), records the child's pid and start time in the state file, forwards
SIGTERM to the group, and when the child ends records its exit code and finish time, then kills anything
the child left behind in the group.

State file protocol (one writer at a time, so no locking is needed): the runtime creates the file
exclusively; from then on only the launcher writes it while the launcher lives; once the launcher is gone,
the runtime may write an exit record it failed to leave. Every write is a temp file + rename.

Kept to the standard library plus psutil so the launcher starts fast and imports nothing of the platform.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

STATE_FORMAT = 1
# Shell convention (also Docker's and Kubernetes'): a child killed by signal N exits with 128 + N.
SIGNAL_EXIT_BASE = 128
EXIT_COMMAND_NOT_FOUND = 127
EXIT_COMMAND_NOT_RUNNABLE = 126


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _temp_path(path: Path) -> Path:
    # A leading dot and a .tmp suffix keep half-written files out of the runtime's ``*.json`` listing.
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _write_temp(path: Path, data: dict[str, Any]) -> Path:
    tmp = _temp_path(path)
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
    return tmp


def write_state(path: Path, data: dict[str, Any]) -> None:
    """Replace the state file atomically: readers see the old or the new content, never a torn one."""
    tmp = _write_temp(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def create_state(path: Path, data: dict[str, Any]) -> bool:
    """Create the state file only if none exists; False if another caller already holds the name.

    ``link`` fails with EEXIST atomically (like O_EXCL) and, unlike O_EXCL on the final name, publishes a
    file whose content is already complete.
    """
    tmp = _write_temp(path, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


def read_state(path: Path) -> dict[str, Any] | None:
    """The state as a dict; None if the file does not exist. Raises ``ValueError`` if it is unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    data = json.loads(text)
    if not isinstance(data, dict):
        # ValueError like json's own decode errors, so callers handle every unreadable file the same way.
        raise ValueError(f"{path} does not hold a JSON object")  # noqa: TRY004
    return data


def exit_record(returncode: int, *, stopped: bool) -> dict[str, Any]:
    """Turn a ``Popen.returncode`` (negative for a signal) into the recorded exit code and detail."""
    if returncode < 0:
        signame = _signal_name(-returncode)
        code, detail = SIGNAL_EXIT_BASE - returncode, f"killed by {signame}"
    else:
        code, detail = returncode, f"exited with code {returncode}"
    if stopped:
        detail = f"stopped: {detail}"
    return {"exit_code": code, "finished_at": now_iso(), "detail": detail}


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class _Launcher:
    """One launcher run: spawn, record, wait, record, clean the group up."""

    def __init__(self, state_path: Path, argv: Sequence[str]) -> None:
        self.state_path = state_path
        self.argv = list(argv)
        self.child: subprocess.Popen[bytes] | None = None
        self.stop_requested = False

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.stop_requested = True
        # Ignore further SIGTERMs here first, so signalling the whole group (which includes the launcher)
        # delivers exactly one SIGTERM to every other member, including the child's own children.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if self._is_group_leader():
            os.killpg(os.getpgrp(), signal.SIGTERM)
        elif self.child is not None and self.child.poll() is None:
            self.child.send_signal(signal.SIGTERM)

    @staticmethod
    def _is_group_leader() -> bool:
        # Only when started detached (new session) does the group belong to this container alone; run by
        # hand from a shell, signalling the group would hit the shell too.
        return os.getpgrp() == os.getpid()

    def _update(self, **fields: Any) -> None:
        state = read_state(self.state_path) or {}
        state.update(fields)
        write_state(self.state_path, state)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_sigterm)
        me = psutil.Process()
        base = {"launcher_pid": me.pid, "launcher_create_time": me.create_time()}
        if self.stop_requested:
            self._update(**base, **exit_record(-signal.SIGTERM, stopped=True))
            return SIGNAL_EXIT_BASE + signal.SIGTERM
        try:
            self.child = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL)
        except OSError as exc:
            code = EXIT_COMMAND_NOT_FOUND if isinstance(exc, FileNotFoundError) else EXIT_COMMAND_NOT_RUNNABLE
            print(f"launcher: cannot run {self.argv!r}: {exc}", file=sys.stderr, flush=True)
            self._update(
                **base, exit_code=code, finished_at=now_iso(), detail=f"could not start the command: {exc}"
            )
            return code
        try:
            child_create_time = psutil.Process(self.child.pid).create_time()
        except psutil.NoSuchProcess:
            # Already gone and reaped is impossible (we have not waited); a zombie still answers, so this
            # only happens on exotic kernels. Record without a guard value rather than fail.
            child_create_time = None
        self._update(**base, pid=self.child.pid, create_time=child_create_time, started_at=now_iso())
        returncode = self.child.wait()
        record = exit_record(returncode, stopped=self.stop_requested)
        self._update(**record)
        self._kill_leftovers()
        return int(record["exit_code"])

    def _kill_leftovers(self) -> None:
        """Like a container whose PID 1 ended: nothing the child spawned outlives it."""
        if not self._is_group_leader():
            return
        me = os.getpid()
        for proc in psutil.process_iter():
            try:
                if proc.pid != me and os.getpgid(proc.pid) == me and proc.status() != psutil.STATUS_ZOMBIE:
                    break
            except (ProcessLookupError, psutil.Error):
                continue
        else:
            return
        sys.stdout.flush()
        os.killpg(me, signal.SIGKILL)  # the launcher goes with them; its exit is already recorded


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.runtime.launcher", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--state", required=True, type=Path, help="The container's state file (already created)."
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- followed by the argv to run.")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given after --")
    return _Launcher(args.state, command).run()


if __name__ == "__main__":
    sys.exit(main())
