"""The process runtime's launcher, and the state file format it shares with ``infra.runtime.process``.

``python -m infra.runtime.launcher --state FILE -- ARGV...`` is what the process runtime starts, detached in a
new session, for each container. It first fetches the container's input files the state file lists (``inputs``:
name, url, size, sha256, path; a stop interrupts it; a failure ends the container with ``EXIT_INPUT_FAILED``),
then runs ARGV as its child in its own process group (it is the group leader, like PID 1 of a container),
records the child's pid and start time in the state file, forwards SIGTERM to the group, and when the child
ends records its exit code and finish time, then kills anything the child left behind in the group.

State file protocol (one writer at a time, so no locking is needed): the runtime creates the file
exclusively; from then on only the launcher writes it while the launcher lives; once the launcher is gone,
the runtime may write an exit record it failed to leave. Every write is a temp file + rename.

Kept to the standard library plus psutil so the launcher starts fast and imports nothing of the platform.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
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
EXIT_INPUT_FAILED = 125  # as Docker's "the container could not be set up": the command never ran
FETCH_CHUNK = 1024 * 1024
FETCH_TIMEOUT_SECONDS = 60.0
FETCH_ATTEMPTS = 3


class InputError(Exception):
    """An input file could not be fetched, or was not what the state file says (its message names no URL)."""


def _fetch_once(item: dict[str, Any], stopped: Callable[[], bool]) -> None:
    path, size, sha256 = Path(item["path"]), int(item["size"]), str(item["sha256"]).lower()
    url = str(item["url"])
    if not url.startswith(("http://", "https://")):
        raise InputError("its URL is not http(s)")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    digest, received = hashlib.sha256(), 0
    try:
        with (
            urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response,
            open(partial, "wb") as out,
        ):
            while chunk := response.read(FETCH_CHUNK):
                if stopped():
                    raise InputError("stopped while fetching")
                received += len(chunk)
                if received > size:
                    raise InputError(f"more than the {size} bytes expected")
                digest.update(chunk)
                out.write(chunk)
        if received != size:
            raise InputError(f"{received} bytes received, {size} expected")
        if digest.hexdigest() != sha256:
            raise InputError(f"sha256 {digest.hexdigest()} does not match the expected {sha256}")
        os.chmod(partial, 0o444)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def fetch_inputs(items: Sequence[dict[str, Any]], stopped: Callable[[], bool]) -> None:
    """Download each input to its path, checked; connection trouble is retried, a wrong answer is not.

    Errors never quote the URL (a presigned URL is a credential, and this reaches the container's log)."""
    for item in items:
        name = item.get("name", "?")
        for attempt in range(1, FETCH_ATTEMPTS + 1):
            try:
                _fetch_once(item, stopped)
                print(f"launcher: fetched input {name} ({item['size']} bytes)", flush=True)
                break
            except urllib.error.HTTPError as exc:
                raise InputError(f"could not fetch input {name}: HTTP {exc.code} {exc.reason}") from None
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
                if attempt == FETCH_ATTEMPTS or stopped():
                    raise InputError(f"could not fetch input {name}: {reason}") from None
                time.sleep(attempt)
            except InputError as exc:
                raise InputError(f"input {name}: {exc}") from None


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
        inputs = (read_state(self.state_path) or {}).get("inputs") or []
        if inputs:
            # Recorded first: the runtime sees a live launcher (pending) for as long as the download takes.
            self._update(**base)
            try:
                fetch_inputs(inputs, lambda: self.stop_requested)
            except InputError as exc:
                if self.stop_requested:
                    self._update(**exit_record(-signal.SIGTERM, stopped=True))
                    return SIGNAL_EXIT_BASE + signal.SIGTERM
                print(f"launcher: {exc}", file=sys.stderr, flush=True)
                self._update(exit_code=EXIT_INPUT_FAILED, finished_at=now_iso(), detail=str(exc))
                return EXIT_INPUT_FAILED
            if self.stop_requested:  # between the last chunk and the spawn: the command must not start
                self._update(**exit_record(-signal.SIGTERM, stopped=True))
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


def fetch_from_env(variable: str) -> int:
    """``--fetch-env VAR``: only fetch the inputs listed as JSON in ``$VAR`` (a Kubernetes init container)."""
    try:
        fetch_inputs(json.loads(os.environ[variable]), lambda: False)
    except (InputError, KeyError, ValueError, TypeError) as exc:
        print(f"launcher: {exc}", file=sys.stderr, flush=True)
        return EXIT_INPUT_FAILED
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.runtime.launcher", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--state", type=Path, help="The container's state file (already created).")
    parser.add_argument("--fetch-env", metavar="VAR", help="Only fetch the inputs listed as JSON in $VAR.")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- followed by the argv to run.")
    args = parser.parse_args(argv)
    if args.fetch_env:
        return fetch_from_env(args.fetch_env)
    if args.state is None:
        parser.error("--state is required")
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given after --")
    return _Launcher(args.state, command).run()


if __name__ == "__main__":
    sys.exit(main())
