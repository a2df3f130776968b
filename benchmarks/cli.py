"""CLI start-up: `mlops --help`, `mlops datasets --help` and `mlops datasets list`, each as cold processes (a
new interpreter every time, bytecode already compiled), on a catalog made for the run by `mlops init` (SQLite
in a temporary data dir) holding a few datasets created with `mlops datasets create`.

Baseline, measured in the same run and interleaved with it: the same commands after importing what the CLI
imported up front before its commands imported their own modules (``EAGER``: every platform module cli/
imported at module level, after exporting the library environment as it did). Reported per command: the
median wall time of ``--repeats`` processes (5) for both, the ratio, and the median CPU time (user + sys),
which the machine's load disturbs less than wall time; the load average is printed with the table.
Bars: `mlops --help` ≤ 0.5 s, `mlops datasets list` ≤ 1.5 s (wall). One more row, without a baseline:
`./mlops --help` through the checkout's wrapper script (which finds the virtualenv first, scripts/ensure-venv.sh).

``python -m benchmarks.cli [--repeats 5] [--json]`` (exit code 1 when a bar is missed)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.quality.common import table

REPO = Path(__file__).resolve().parent.parent

# The platform modules cli/ imported at module level before its commands imported their own.
EAGER = (
    "catalog.db",
    "catalog.errors",
    "catalog.scoping",
    "catalog.models",
    "catalog.scenarios",
    "catalog.uploads",
    "catalog.services.algorithms",
    "catalog.services.datasets",
    "catalog.services.runs",
    "catalog.services.serving",
    "catalog.services.sessions",
    "catalog.services.teams",
    "catalog.services.training",
    "flows.launch",
    "flows.outcomes",
    "infra.objectstore",
    "infra.settings",
    "infra.settings.secrets",
    "tasks.datasets",
    "tasks.predict",
    "tasks.serving",
    "sqlmodel",
)
# `python -m cli ARGS`, through runpy as -m does, after ``prelude``.
LAUNCH = "import runpy\nrunpy.run_module('cli', run_name='__main__', alter_sys=True)\n"
EAGER_PRELUDE = "from infra.settings.bridge import export_library_env\nexport_library_env()\n" + "".join(
    f"import {m}\n" for m in EAGER
)
COMMANDS: dict[str, tuple[list[str], float | None]] = {  # label: (arguments, bar in seconds)
    "mlops --help": (["--help"], 0.5),
    "mlops datasets --help": (["datasets", "--help"], None),
    "mlops datasets list": (["datasets", "list"], 1.5),
}
WRAPPED = "./mlops --help"


@dataclass(frozen=True, slots=True)
class Sample:
    wall: float
    cpu: float


def run(prelude: str, args: list[str], env: dict[str, str], *, wrapper: bool = False) -> Sample:
    """One cold process (``wrapper``: through ./mlops): wall time, and CPU time from the rusage of waited-for
    children."""
    argv = [str(REPO / "mlops"), *args] if wrapper else [sys.executable, "-c", prelude + LAUNCH, *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"mlops {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return Sample(wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))


def catalog_env(data: Path) -> dict[str, str]:
    """A CLI environment on a fresh catalog under ``data``: `mlops init` run, three datasets created."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLOPS_USER", "MLOPS_PASSWORD")}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p),
            "MLOPS_ENV_FILE": "/nonexistent",
            "MLOPS_DATA_DIR": str(data),
            "MLOPS_DATABASE_URL": f"sqlite:///{data / 'catalog.db'}",
            "MLOPS_ADMIN_PASSWORD": "bench-pass-123",
            "DO_NOT_TRACK": "1",
        }
    )
    run("", ["init", "--json"], env)
    for name in ("cpu", "memory", "disk"):
        run("", ["datasets", "create", name, "--scenario", "anomaly_detection"], env)
    return env


def measure(env: dict[str, str], repeats: int) -> dict[str, dict[str, float]]:
    """Medians per command, lazy and eager runs interleaved so that a change of load hits both alike."""
    results: dict[str, dict[str, float]] = {}
    for label, (args, _bar) in COMMANDS.items():
        run("", args, env)  # warm the page cache and bytecode
        run(EAGER_PRELUDE, args, env)
        lazy, eager = [], []
        for _ in range(repeats):
            lazy.append(run("", args, env))
            eager.append(run(EAGER_PRELUDE, args, env))
        results[label] = {
            "lazy_wall_s": statistics.median(s.wall for s in lazy),
            "eager_wall_s": statistics.median(s.wall for s in eager),
            "lazy_cpu_s": statistics.median(s.cpu for s in lazy),
            "eager_cpu_s": statistics.median(s.cpu for s in eager),
        }
    run("", ["--help"], env, wrapper=True)
    wrapped = [run("", ["--help"], env, wrapper=True) for _ in range(repeats)]
    results[WRAPPED] = {
        "lazy_wall_s": statistics.median(s.wall for s in wrapped),
        "lazy_cpu_s": statistics.median(s.cpu for s in wrapped),
    }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="cold processes per command and variant")
    parser.add_argument("--json", action="store_true", help="print one machine-readable JSON summary")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="mlops-bench-cli-") as tmp:
        results = measure(catalog_env(Path(tmp) / "data"), args.repeats)
    load_after = os.getloadavg()
    rows = []
    ok = True
    for label, r in results.items():
        bar = COMMANDS.get(label, ([], None))[1]
        met = None if bar is None else r["lazy_wall_s"] <= bar
        ok = ok and met is not False
        eager = r.get("eager_wall_s")
        rows.append(
            {
                "command": label,
                "lazy wall s": r["lazy_wall_s"],
                "eager wall s": eager,
                "wall eager/lazy": None if eager is None else eager / r["lazy_wall_s"],
                "lazy cpu s": r["lazy_cpu_s"],
                "eager cpu s": r.get("eager_cpu_s"),
                "bar s": bar,
                "met": {None: "—", True: "yes", False: "NO"}[met],
            }
        )
    if args.json:
        print(
            json.dumps(
                {
                    "results": results,
                    "ok": ok,
                    "repeats": args.repeats,
                    "load_average_before": load_before,
                    "load_average_after": load_after,
                }
            )
        )
        return 0 if ok else 1
    print(table(rows, list(rows[0]), digits=2))
    print(
        f"median of {args.repeats} cold processes each; load average (1, 5, 15 min) before "
        f"{', '.join(f'{x:.1f}' for x in load_before)}, after {', '.join(f'{x:.1f}' for x in load_after)} "
        f"on {os.cpu_count()} cores"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
