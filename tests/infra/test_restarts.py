"""The supervisor's restart rules, without processes: back-off doubling and its cap, a stable run resetting the
count, failed restarts backing off further, and the line shown for each phase."""

from __future__ import annotations

from infra.embedded.restarts import (
    ComponentLife,
    Phase,
    RestartPolicy,
    backoff,
    describe,
    due,
    on_exit,
    on_healthy,
    on_restart,
    on_start_failed,
)

POLICY = RestartPolicy(base_seconds=1.0, max_seconds=8.0, stable_seconds=60.0)


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff(POLICY, n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_failures_in_a_row_back_off_and_a_stable_run_resets_them() -> None:
    life = ComponentLife(started_at=0.0)
    now = 10.0
    delays = []
    for _ in range(4):  # dies 10 s after every start: never stable
        life = on_exit(life, now=now, exit_code=1, policy=POLICY)
        assert life.phase == Phase.WAITING and not due(life, now=now)
        delays.append(life.restart_at - now)  # type: ignore[operator]
        now = life.restart_at  # type: ignore[assignment]
        assert due(life, now=now)
        life = on_healthy(on_restart(life, now=now))
        now += 10.0
    assert delays == [1.0, 2.0, 4.0, 8.0]
    assert life.restarts == 4 and life.failures_in_a_row == 4
    # Up for longer than stable_seconds: the next failure is a first one again.
    life = on_exit(life, now=now + 61.0, exit_code=9, policy=POLICY)
    assert life.failures_in_a_row == 1 and life.restart_at == now + 61.0 + 1.0
    assert life.last_exit_code == 9


def test_a_restart_that_fails_backs_off_further() -> None:
    life = on_exit(ComponentLife(started_at=0.0), now=5.0, exit_code=1, policy=POLICY)
    life = on_restart(life, now=6.0)
    assert life.phase == Phase.STARTING and life.restarts == 1
    life = on_start_failed(life, now=7.0, policy=POLICY)
    assert life.phase == Phase.WAITING and life.restart_at == 7.0 + 2.0


def test_each_phase_reads_as_one_line() -> None:
    assert describe(ComponentLife(), now=0.0) == "running"
    life = on_exit(ComponentLife(started_at=0.0), now=5.0, exit_code=3, policy=POLICY)
    assert describe(life, now=5.0) == "exited with code 3; restarting in 1 s (attempt 1)"
    life = on_restart(life, now=6.0)
    assert describe(life, now=6.0) == "exited with code 3; restarted (attempt 1), waiting until healthy"
    assert describe(on_healthy(life), now=7.0) == "running (restarted 1 time(s))"
