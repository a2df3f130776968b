"""Local processes known by pid *and* start time: whether one is still that process, signalling its process
group, waiting for processes to exit with a deadline, and reaping a dead child.

One module for the embedded platform's components (``infra.embedded.process``) and the process runtime's
containers (``infra.runtime.process``), so both answer "is it still the process I started?" the same way:

- **Start time.** A pid is recorded with its start time, and a live pid whose start time differs by more than
  ``CREATE_TIME_TOLERANCE`` is another process that got the pid. psutil derives the start time from the boot
  time in ``/proc/stat`` (whole seconds, recomputed from the wall clock, so a clock step can move it by a
  second) plus the start ticks; a tighter match would declare a live component dead after such a step, and the
  kernel hands out a pid again only after cycling through the pid space, far slower than a second.
- **Access denied.** A process we may not inspect or signal (EPERM) runs as another user, so it is not one the
  platform started (every component and container runs as the platform's user): it counts as gone, and a
  signal that reaches no process of ours reports ``False`` instead of raising.
- **Zombies** have exited: they count as gone.
- **Waiting for a process that is not our child** (``wait_pid_exit``): the process runtime's containers
  outlive the runner that launched them (``mlops down --keep-workloads``), so ``waitpid`` cannot wait for
  them; a pidfd (``os.pidfd_open``, Linux 5.3+) becomes readable when its process exits, whoever the parent.
  Without pidfd the wait lasts its timeout and the caller reads the state again.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psutil

from infra.net import wait_until

CREATE_TIME_TOLERANCE = 1.0
POLL_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class ProcessRef:
    """A process as recorded: its pid and start time (``None`` when none could be recorded: pid only)."""

    pid: int
    create_time: float | None = None

    @classmethod
    def current(cls, pid: int) -> ProcessRef | None:
        """The process running at ``pid`` now, with its start time; ``None`` if there is none we may see."""
        try:
            return cls(pid, psutil.Process(pid).create_time())
        except psutil.Error:
            return None

    @classmethod
    def of(cls, proc: psutil.Process) -> ProcessRef:
        """``proc`` as a reference; psutil read its start time when the object was made."""
        try:
            return cls(proc.pid, proc.create_time())
        except psutil.Error:
            return cls(proc.pid, None)

    def alive(self) -> bool:
        return alive(self.pid, self.create_time)


def alive(pid: object, create_time: object = None) -> bool:
    """True if ``pid`` runs, is not a zombie and, when ``create_time`` is a number, started then (within
    ``CREATE_TIME_TOLERANCE``). Values read from state files are passed as they are: anything but a positive
    int pid is not a process."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        proc = psutil.Process(pid)
        if (
            isinstance(create_time, (int, float))
            and not isinstance(create_time, bool)
            and abs(proc.create_time() - create_time) > CREATE_TIME_TOLERANCE
        ):
            return False
        return proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def started_with(proc: psutil.Process, create_time: float) -> bool:
    """True if ``proc`` started no earlier than ``create_time`` (same tolerance as ``alive``): a member of a
    process group that came after its leader, not an older process."""
    try:
        return proc.create_time() >= create_time - CREATE_TIME_TOLERANCE
    except psutil.Error:
        return False


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to process group ``pgid``; False when it holds no process we may signal (gone, or not
    ours) or is our own group, which is never signalled (it holds this process and whoever started it)."""
    if pgid <= 0 or pgid == os.getpgrp():
        return False
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def signal_group_of(ref: ProcessRef, sig: int) -> bool:
    """Signal the process group ``ref`` belongs to, after checking ``ref`` is still that process. A process
    in our own group (started without a session of its own) gets the signal alone. False if nothing was
    signalled."""
    if not ref.alive():
        return False
    try:
        pgid = os.getpgid(ref.pid)
        if pgid == os.getpgrp():
            os.kill(ref.pid, sig)
            return True
    except (ProcessLookupError, PermissionError):
        return False
    return signal_group(pgid, sig)


def wait_exit(
    refs: Iterable[ProcessRef],
    *,
    timeout: float,
    interval: float = POLL_SECONDS,
    poll: Callable[[], None] | None = None,
) -> bool:
    """Wait until none of ``refs`` is alive; False if some still are after ``timeout`` seconds. ``poll`` runs
    before every check (e.g. reaping the caller's children, which would otherwise stay zombies)."""
    watched = list(refs)

    def gone() -> bool:
        if poll is not None:
            poll()
        return not any(ref.alive() for ref in watched)

    try:
        wait_until(gone, timeout=max(0.0, timeout), interval=interval, description="processes exited")
    except TimeoutError:
        return False
    return True


def reap(ref: ProcessRef) -> None:
    """Collect the exit status of ``ref`` if it is a zombie child of this process, so it does not linger in the
    process table. Only that very process (start time checked) is waited for, never another child that got
    the pid, and a live process is left alone."""
    try:
        proc = psutil.Process(ref.pid)
        if proc.status() != psutil.STATUS_ZOMBIE:
            return
        if ref.create_time is not None and abs(proc.create_time() - ref.create_time) > CREATE_TIME_TOLERANCE:
            return
        os.waitpid(ref.pid, os.WNOHANG)
    except (psutil.Error, ChildProcessError):
        pass


def wait_pid_exit(pid: int, create_time: float | None, timeout: float) -> bool:
    """Block until process ``pid`` (started at ``create_time``) has exited, at most ``timeout`` seconds.

    True when it has exited (or ``pid`` is no longer the recorded process), False otherwise — including a
    timeout without pidfd support, where the wait is a sleep.
    """
    timeout = max(timeout, 0.0)
    try:
        fd = os.pidfd_open(pid)  # type: ignore[attr-defined,unused-ignore]
    except ProcessLookupError:
        return True
    except (AttributeError, OSError):
        time.sleep(timeout)
        return not alive(pid, create_time)
    try:
        # Checked after opening: the fd now pins this pid, so a pid reused before the open is caught here
        # and one reused after it cannot be.
        if not alive(pid, create_time):
            return True
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(timeout * 1000))
    finally:
        os.close(fd)
