"""`mlops up` health waits: the supervisor starts real servers, waits for health, refuses a second start,
stops everything (by pid) on `down`, on a failed start, and when run in the foreground."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from infra.embedded import supervisor
from infra.embedded.components import ComponentSpec, nats_spec
from infra.net import free_port, nats_ping, wait_until
from infra.objectstore import ObjectStore
from infra.procs import alive as pid_alive
from infra.settings import (
    NatsSettings,
    ObjectStoreSettings,
    PlatformSettings,
    Settings,
    TrackingSettings,
)


def make_settings(data_dir: Path, *, timeout: float = 120.0) -> Settings:
    master, volume, filer, s3 = (free_port(companion_offsets=(10000,)) for _ in range(4))
    return Settings(
        platform=PlatformSettings(data_dir=data_dir, startup_timeout_seconds=timeout),
        s3=ObjectStoreSettings(
            endpoint=f"http://127.0.0.1:{s3}",
            master_port=master,
            volume_port=volume,
            filer_port=filer,
            bucket="platform",
            artifacts_bucket="artifacts",
        ),
        nats=NatsSettings(url=f"nats://127.0.0.1:{free_port()}"),
        mlflow=TrackingSettings(uri=f"http://127.0.0.1:{free_port()}"),
    )


def tree_pids(pid: int) -> list[int]:
    try:
        return [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
    except psutil.NoSuchProcess:
        return [pid]


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    value = make_settings(tmp_path / "data")
    yield value
    supervisor.down(value, echo=lambda _: None)  # whatever a failing test left behind


def fake_spec(settings: Settings, name: str, script: str, *, timeout: float) -> ComponentSpec:
    """A component running a shell ``script`` whose health URL never answers."""
    return ComponentSpec(
        name=name,
        label=name,
        argv=["sh", "-c", script],
        env=dict(os.environ),
        log_file=settings.platform.data_dir / "logs" / f"{name}.log",
        health=f"http://127.0.0.1:{free_port()}/health",
        url="-",
        startup_timeout_seconds=timeout,
        stop_grace_seconds=2.0,
    )


@pytest.mark.slow
def test_up_waits_for_health_refuses_second_up_and_down_stops_every_process(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines: list[str] = []
    caller_dir = tmp_path / "caller"
    caller_dir.mkdir()
    monkeypatch.chdir(caller_dir)
    started = time.monotonic()
    handle = supervisor.up(settings, components=["s3", "nats", "mlflow"], echo=lines.append)
    elapsed = time.monotonic() - started
    assert [c.spec.name for c in handle.components] == ["s3", "nats", "mlflow"]

    rows = supervisor.status(settings)
    assert [(r.name, r.alive, r.healthy) for r in rows] == [
        ("s3", True, True),
        ("nats", True, True),
        ("mlflow", True, True),
    ]
    assert any(settings.mlflow.uri in line for line in lines) and any(
        settings.nats.url in line for line in lines
    )
    # Buckets were created once S3 was healthy.
    store = ObjectStore(settings.s3)
    assert store.client.bucket_exists("platform") and store.client.bucket_exists("artifacts")
    assert list(caller_dir.iterdir()) == []  # components write under the data dir, never the caller's cwd
    state = json.loads(supervisor.state_file(settings).read_text())
    assert [c["pid"] for c in state["components"]] == [r.pid for r in rows]

    with pytest.raises(supervisor.AlreadyRunningError, match="already running"):
        supervisor.up(settings, components=["s3", "nats", "mlflow"], echo=lambda _: None)
    assert all(r.alive for r in supervisor.status(settings))  # the refused start touched nothing

    pids = [p for r in rows if r.pid for p in tree_pids(r.pid)]
    assert len(pids) >= 3
    assert supervisor.down(settings, echo=lambda _: None) is True
    assert [
        p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
    ] == []
    assert not supervisor.state_file(settings).exists()
    assert supervisor.status(settings) == []
    assert supervisor.down(settings, echo=lambda _: None) is False
    print(f"s3+nats+mlflow healthy in {elapsed:.1f}s")


def test_component_never_healthy_fails_clearly_and_leaves_nothing(settings: Settings) -> None:
    lines: list[str] = []
    nats = nats_spec(settings)
    stuck = fake_spec(settings, "stuck", "echo booting-marker; exec sleep 60", timeout=1.5)
    started = time.monotonic()
    with pytest.raises(supervisor.PlatformError, match=r"stuck did not become healthy within 1.5s") as err:
        supervisor.up(settings, components=[nats, stuck], echo=lines.append)
    assert time.monotonic() - started < 15
    assert "stuck.log" in str(err.value)
    assert any("booting-marker" in line for line in lines)  # the log tail was shown
    assert not supervisor.state_file(settings).exists()
    sleepers = [
        p
        for p in psutil.process_iter(["cmdline"])
        if p.info["cmdline"] and "booting-marker" in " ".join(p.info["cmdline"])
    ]
    assert sleepers == []
    assert not _listening(int(settings.nats.url.rsplit(":", 1)[1]))


def test_component_exiting_at_start_fails_fast(settings: Settings) -> None:
    crash = fake_spec(settings, "crash", "echo boom >&2; exit 3", timeout=60)
    started = time.monotonic()
    with pytest.raises(supervisor.PlatformError, match="crash exited with code 3"):
        supervisor.up(settings, components=[crash], echo=lambda _: None)
    assert time.monotonic() - started < 10  # did not wait for the 60 s deadline


def test_busy_port_is_reported_before_starting(settings: Settings) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", int(settings.nats.url.rsplit(":", 1)[1])))
        sock.listen()
        with pytest.raises(supervisor.PlatformError, match="already in use"):
            supervisor.up(settings, components=["nats"], echo=lambda _: None)
    assert not supervisor.state_file(settings).exists()


def test_stale_state_with_reused_pid_is_neither_running_nor_killed(settings: Settings) -> None:
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        path = supervisor.state_file(settings)
        path.parent.mkdir(parents=True)
        create_time = psutil.Process(bystander.pid).create_time()
        path.write_text(
            json.dumps(
                {
                    "supervisor_pid": None,
                    "components": [
                        {"name": "nats", "pid": bystander.pid, "create_time": create_time - 1000, "url": "-"}
                    ],
                }
            )
        )
        assert [r.alive for r in supervisor.status(settings)] == [False]
        assert supervisor.down(settings, echo=lambda _: None) is False
        assert bystander.poll() is None  # the unrelated process that got the pid was left alone
    finally:
        bystander.kill()
        bystander.wait()


FOREGROUND = """
import sys
from infra.embedded.supervisor import run_foreground
from infra.settings import get_settings
sys.exit(run_foreground(get_settings(), components=["nats"]))
"""


class Foreground:
    """`run_foreground` in a child process, its output in a file (a pipe could fill up and block it)."""

    def __init__(self, settings: Settings, script: str = FOREGROUND) -> None:
        self.output = settings.platform.data_dir.parent / "foreground.out"
        env = dict(
            os.environ,
            MLOPS_ENV_FILE="/nonexistent",
            MLOPS_DATA_DIR=str(settings.platform.data_dir),
            MLOPS_NATS_URL=settings.nats.url,
            MLOPS_NATS_PASSWORD=settings.nats.password,
        )
        with self.output.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", script], env=env, stdout=out, stderr=subprocess.STDOUT, text=True
            )

    def text(self) -> str:
        return self.output.read_text()

    def wait(self) -> tuple[int, str]:
        return self.proc.wait(timeout=30), self.text()


@pytest.fixture
def foreground(settings: Settings) -> Iterator[Foreground]:
    fg = Foreground(settings)
    # Running means the supervisor itself finished its health waits, not merely that nats answers.
    wait_until(
        lambda: "platform running" in fg.text() or fg.proc.poll() is not None,
        timeout=30,
        description="foreground platform running",
    )
    assert fg.proc.poll() is None, fg.text()
    yield fg
    if fg.proc.poll() is None:  # the test failed before stopping it
        fg.proc.terminate()
        fg.proc.wait(timeout=30)


def test_foreground_stops_cleanly_on_down_from_another_process(
    settings: Settings, foreground: Foreground
) -> None:
    nats_pid = supervisor.status(settings)[0].pid
    assert nats_pid is not None
    assert supervisor.down(settings, echo=lambda _: None) is True
    code, out = foreground.wait()
    assert code == 0, out
    assert "platform stopped" in out and "exited unexpectedly" not in out
    assert not pid_alive(nats_pid, None)


@pytest.mark.parametrize("keep", [False, True], ids=["workloads-stop", "keep-workloads"])
def test_foreground_stops_its_workloads_unless_kept(
    settings: Settings, foreground: Foreground, keep: bool
) -> None:
    from infra.runtime.base import ContainerKind, ContainerSpec
    from infra.runtime.process import ProcessRuntime

    runtime = ProcessRuntime(settings)
    runtime.start(
        ContainerSpec(
            name="serve-9", kind=ContainerKind.SERVE, command=["python", "-c", "import time; time.sleep(120)"]
        )
    )
    try:
        assert runtime.status(["serve-9"])["serve-9"].is_alive
        assert supervisor.down(settings, echo=lambda _: None, keep_workloads=keep) is True
        code, out = foreground.wait()
        assert code == 0, out
        # The foreground `mlops up` stops (or keeps) the workloads itself, before `down` returns.
        assert ("left running: serve-9" in out) is keep and ("stopping serve-9" in out) is not keep
        assert runtime.status(["serve-9"])["serve-9"].is_alive is keep
    finally:
        runtime.remove("serve-9", force=True)


def test_foreground_restarts_a_component_that_dies_and_keeps_running(
    settings: Settings, foreground: Foreground
) -> None:
    nats_pid = supervisor.status(settings)[0].pid
    assert nats_pid is not None
    os.kill(nats_pid, signal.SIGKILL)

    def restarted() -> bool:
        rows = supervisor.status(settings)
        return (
            bool(rows) and rows[0].pid != nats_pid and rows[0].alive and "healthy again" in foreground.text()
        )

    wait_until(restarted, timeout=60, interval=0.2, description="nats restarted")
    assert foreground.proc.poll() is None, foreground.text()  # the platform kept running
    out = foreground.text()
    assert "nats exited unexpectedly (code -9); restarting it in 1 s (the platform keeps running)" in out
    row = supervisor.status(settings)[0]
    assert row.state == "running (restarted 1 time(s))"
    assert supervisor.problems(settings) == []
    # The restarted server is the platform's, with its users: the responder can still sign in.
    assert nats_ping(
        "127.0.0.1", int(settings.nats.url.rsplit(":", 1)[1]), settings.nats.user, settings.nats.password
    )
    assert supervisor.down(settings, echo=lambda _: None) is True
    code, out = foreground.wait()
    assert code == 0, out
    assert not pid_alive(row.pid, None)  # type: ignore[arg-type]


FLAKY_FOREGROUND = """
import os, sys
from pathlib import Path
from infra.embedded.components import ComponentSpec, nats_spec
from infra.embedded.supervisor import run_foreground
from infra.settings import get_settings
settings = get_settings()
flaky = ComponentSpec(name="flaky", label="flaky", argv=["sh", "-c", "echo x >> {marker}; sleep 1; exit 7"],
                      env=dict(os.environ), health=lambda: True, url="-", log_file=Path({log!r}),
                      stop_grace_seconds=2.0)
sys.exit(run_foreground(settings, components=[nats_spec(settings), flaky]))
"""


def test_a_component_that_keeps_dying_is_reported_while_the_platform_stays_up(settings: Settings) -> None:
    marker = settings.platform.data_dir / "crashes"
    script = FLAKY_FOREGROUND.format(
        marker=marker, log=str(settings.platform.data_dir / "logs" / "flaky.log")
    )
    fg = Foreground(settings, script=script)
    try:
        wait_until(
            lambda: marker.exists() and len(marker.read_text().split()) >= 3,
            timeout=60,
            interval=0.2,
            description="three starts of the flaky component",
        )
        assert fg.proc.poll() is None, fg.text()
        wait_until(
            lambda: any(p.startswith("flaky: exited with code 7") for p in supervisor.problems(settings)),
            timeout=30,
            interval=0.2,
            description="the banner line",
        )
        out = fg.text()
        # The back-off doubles with every failure in a row: 1 s, then 2 s.
        assert "restarting it in 1 s" in out and "restarting it in 2 s" in out, out
        assert supervisor.status(settings)[0].alive  # nats is left alone
    finally:
        supervisor.down(settings, echo=lambda _: None)
        fg.proc.wait(timeout=30)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_platform_env_renders_settings_that_read_back_identically(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infra.embedded.components import platform_env

    env = platform_env(settings)
    assert env["MLFLOW_TRACKING_URI"] == settings.mlflow.uri
    assert env["AWS_SECRET_ACCESS_KEY"] == settings.s3.secret_key
    assert env["MLOPS_S3_MASTER_PORT"] == str(settings.s3.master_port)
    assert env["MLOPS_DATA_DIR"] == str(settings.platform.data_dir)
    for key in [k for k in os.environ if k.startswith("MLOPS_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLOPS_ENV_FILE", "/nonexistent")
    assert Settings().model_dump() == settings.model_dump()


INTERRUPTED = """
import sys
from infra.embedded.components import ComponentSpec, nats_spec
from infra.embedded.supervisor import run_foreground
from infra.settings import get_settings
settings = get_settings()
stuck = ComponentSpec(name="stuck", label="stuck", argv=["sleep", "60"], env={}, health=lambda: False, url="-",
                      log_file=settings.platform.data_dir / "logs" / "stuck.log", stop_grace_seconds=2.0)
sys.exit(run_foreground(settings, components=[nats_spec(settings), stuck]))
"""


def test_foreground_interrupted_while_starting_stops_what_it_started(settings: Settings) -> None:
    env = dict(
        os.environ,
        MLOPS_ENV_FILE="/nonexistent",
        MLOPS_DATA_DIR=str(settings.platform.data_dir),
        MLOPS_NATS_URL=settings.nats.url,
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(
            lambda: len(supervisor.status(settings)) == 2 or proc.poll() is not None,
            timeout=30,
            description="stuck component started",
        )
        pids = [r.pid for r in supervisor.status(settings) if r.pid]
        assert len(pids) == 2
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, out
    assert "interrupted during startup" in out
    assert [p for p in pids if pid_alive(p, None)] == []
    assert not supervisor.state_file(settings).exists()
