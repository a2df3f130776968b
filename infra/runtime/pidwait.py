"""Waiting for a process to end when it need not be our child: Linux's pidfd, else a plain sleep.

The process runtime's containers outlive the runner that launched them (``mlops down --keep-workloads``), so
the runner watching a training run is often not the parent of its launcher; ``waitpid`` cannot wait for it,
but a pidfd (``os.pidfd_open``, Linux 5.3+) becomes readable when the process it refers to exits, whoever its
parent is. Where there is no pidfd the wait simply lasts its timeout and the caller reads the state again
(``ProcessRuntime.wait_exit`` bounds it by ``MLOPS_RUNTIME_EXIT_CHECK_SECONDS``).
"""

from __future__ import annotations

import os
import select
import time

import psutil

# psutil derives create_time from boot time + ticks; the same tolerance as infra.runtime.process.
_CREATE_TIME_TOLERANCE = 1.0


def _same_process(pid: int, create_time: float | None) -> bool:
    try:
        proc = psutil.Process(pid)
        if create_time is not None and abs(proc.create_time() - create_time) > _CREATE_TIME_TOLERANCE:
            return False
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


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
        return not _same_process(pid, create_time)
    try:
        # Checked after opening: the fd now pins this pid, so a pid reused before the open is caught here
        # and one reused after it cannot be.
        if not _same_process(pid, create_time):
            return True
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(timeout * 1000))
    finally:
        os.close(fd)
