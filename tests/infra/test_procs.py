"""``infra.procs`` on real child processes: identity by start time, zombies, process-group signals (never our
own group, refused for another user's processes), waiting for exit with a deadline, and reaping."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from types import FrameType

import psutil
import pytest

from infra.net import wait_until
from infra.procs import (
    CREATE_TIME_TOLERANCE,
    ProcessRef,
    alive,
    reap,
    signal_group,
    signal_group_of,
    started_with,
    wait_exit,
)

DEADLINE = 20.0
# Exits when its stdin closes: the test decides when, without sleeping.
UNTIL_STDIN_CLOSES = [sys.executable, "-c", "import sys; sys.stdin.read()"]
# Prints "ready" once its handlers are in place, so a signal sent after that line cannot arrive too early.
IGNORES_TERM = [
    sys.executable,
    "-c",
    (
        "import signal, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); sys.stdin.read()"
    ),
]
EXITS_7_ON_WINCH = [
    sys.executable,
    "-c",
    (
        "import os, signal, sys; "
        "signal.signal(signal.SIGWINCH, lambda *_: os._exit(7)); "
        "print('ready', flush=True); sys.stdin.read()"
    ),
]


def _start(argv: list[str], *, new_session: bool = True) -> subprocess.Popen[str]:
    return subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=new_session
    )


def _ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"


def _is_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=DEADLINE)


@pytest.fixture
def winches() -> Iterator[list[int]]:
    """SIGWINCHes this test process receives (ignored by default everywhere, so a stray one harms nothing)."""
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = signal.signal(signal.SIGWINCH, handler)
    yield received
    signal.signal(signal.SIGWINCH, previous)


def test_the_start_time_decides_whether_a_pid_is_still_the_recorded_process(
    children: list[subprocess.Popen[str]],
) -> None:
    child = _start(UNTIL_STDIN_CLOSES)
    children.append(child)
    ref = ProcessRef.current(child.pid)
    assert ref is not None and ref.create_time is not None
    assert ref.alive() and alive(child.pid, None)
    # A reading a little off (the boot time psutil adds moved with the clock) is still the same process.
    assert alive(child.pid, ref.create_time + CREATE_TIME_TOLERANCE / 2)
    assert alive(child.pid, ref.create_time - CREATE_TIME_TOLERANCE / 2)
    # A pid whose process started at another time is a reused pid.
    assert not alive(child.pid, ref.create_time - 1000)
    assert not alive(child.pid, ref.create_time + 3 * CREATE_TIME_TOLERANCE)
    # Values read back from an edited state file are not processes.
    assert not any(
        alive(pid, ref.create_time) for pid in (str(child.pid), float(child.pid), True, 0, -1, None)
    )

    proc = psutil.Process(child.pid)
    assert started_with(proc, ref.create_time) and not started_with(proc, ref.create_time + 100)


def test_an_exited_child_is_gone_and_only_its_own_record_reaps_it(
    children: list[subprocess.Popen[str]],
) -> None:
    child = _start(UNTIL_STDIN_CLOSES)
    children.append(child)
    ref = ProcessRef.current(child.pid)
    assert ref is not None and ref.create_time is not None
    assert child.stdin is not None
    child.stdin.close()
    wait_until(lambda: _is_zombie(child.pid), timeout=DEADLINE, description="child exited")
    assert not ref.alive()  # a zombie has exited
    assert not signal_group_of(ref, signal.SIGTERM)

    reap(ProcessRef(child.pid, ref.create_time - 1000))  # a record of another process that had the pid
    assert _is_zombie(child.pid)
    reap(ref)
    assert ProcessRef.current(child.pid) != ref  # waited for: gone from the process table


def test_a_group_signal_reaches_every_member_and_wait_exit_sees_them_go(
    children: list[subprocess.Popen[str]],
) -> None:
    leader = _start(["sh", "-c", "sleep 300 & sleep 300 & echo ready; wait"])
    children.append(leader)
    _ready(leader)
    wait_until(
        lambda: len(psutil.Process(leader.pid).children()) == 2,
        timeout=DEADLINE,
        description="both sleepers started",
    )
    members = [
        ProcessRef(leader.pid, psutil.Process(leader.pid).create_time()),
        *(ProcessRef.of(p) for p in psutil.Process(leader.pid).children()),
    ]
    assert all(ref.alive() for ref in members)

    assert signal_group(leader.pid, signal.SIGTERM)
    assert wait_exit(members, timeout=DEADLINE, poll=leader.poll)
    assert leader.returncode is not None  # poll ran: the leader was reaped, not left a zombie


def test_wait_exit_reports_processes_that_outlive_the_deadline(children: list[subprocess.Popen[str]]) -> None:
    stubborn = _start(IGNORES_TERM)
    children.append(stubborn)
    _ready(stubborn)
    ref = ProcessRef.current(stubborn.pid)
    assert ref is not None
    assert signal_group_of(ref, signal.SIGTERM)
    assert not wait_exit([ref], timeout=0.3, poll=stubborn.poll)  # it ignores SIGTERM: never exits by itself
    assert ref.alive()
    assert signal_group_of(ref, signal.SIGKILL)
    assert wait_exit([ref], timeout=DEADLINE, poll=stubborn.poll)
    assert stubborn.returncode == -signal.SIGKILL


def test_our_own_group_is_never_signalled(children: list[subprocess.Popen[str]], winches: list[int]) -> None:
    assert not signal_group(os.getpgrp(), signal.SIGWINCH)
    assert winches == []

    # A child that shares our group (started without a session of its own) is signalled alone.
    child = _start(EXITS_7_ON_WINCH, new_session=False)
    children.append(child)
    _ready(child)
    assert os.getpgid(child.pid) == os.getpgrp()
    ref = ProcessRef.current(child.pid)
    assert ref is not None
    assert signal_group_of(ref, signal.SIGWINCH)
    assert child.wait(timeout=DEADLINE) == 7
    assert winches == []


def test_a_reused_pid_is_not_signalled(children: list[subprocess.Popen[str]]) -> None:
    stranger = _start(UNTIL_STDIN_CLOSES)
    children.append(stranger)
    real = psutil.Process(stranger.pid).create_time()
    assert not signal_group_of(ProcessRef(stranger.pid, real - 1000), signal.SIGKILL)
    assert stranger.poll() is None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_processes_of_another_user_are_not_ours_to_signal(children: list[subprocess.Popen[str]]) -> None:
    """EPERM: a process the caller may not signal is reported as not signalled, never raised."""
    target = _start(UNTIL_STDIN_CLOSES)
    children.append(target)
    ref = ProcessRef.current(target.pid)
    assert ref is not None
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to "nobody", try, report, and leave without running any pytest code
        code = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            results = [signal_group(target.pid, signal.SIGKILL), signal_group_of(ref, signal.SIGKILL)]
            os.write(write_end, repr(results).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        reported = reader.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert reported == "[False, False]"
    assert target.poll() is None and ref.alive()
