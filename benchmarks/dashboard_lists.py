"""Dashboard lists at scale: the datasets page with 100, 10,000 and 100,000 datasets in the catalog (SQLite).

Measured per catalog size (median of ``--repeats``): the paged service call behind the list
(``list_datasets``: COUNT + one LIMITed page) for the first page, the last page and a name search; the whole
datasets page rendered by Streamlit's AppTest (list, picker, the first dataset's detail); and, as the
baseline, what an unpaged list costs: loading every dataset row. Target: the page render at 10,000 datasets
within 2× of the render at 100.

``.venv/bin/python -m benchmarks.dashboard_lists [--sizes 100,10000,100000] [--repeats 5] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TARGET = 2.0
PAGE = 50


def _median(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _catalog(root: Path, size: int) -> None:
    """A fresh catalog (as `mlops init` leaves it) holding ``size`` datasets."""
    from sqlalchemy import insert

    from catalog.db import dispose_engines, session_scope
    from catalog.models import Dataset
    from catalog.models.base import utcnow
    from catalog.services.init import initialize
    from catalog.services.teams import actor_for
    from infra.settings import reset_settings

    data = root / f"n{size}"
    os.environ["MLOPS_DATA_DIR"] = str(data)
    os.environ["MLOPS_DATABASE_URL"] = f"sqlite:///{data / 'catalog.db'}"
    reset_settings()
    dispose_engines()
    initialize(admin_password="bench-pass-123", echo=lambda *a, **k: None)
    with session_scope() as session:
        team_id = min(actor_for(session, username="admin").team_ids)
        now = utcnow()
        for start in range(0, size, 50_000):
            session.execute(
                insert(Dataset),
                [
                    {
                        "team_id": team_id,
                        "scenario": "anomaly_detection",
                        "name": f"ds-{i:06d}",
                        "description": "",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(start, min(size, start + 50_000))
                ],
            )


def measure(size: int, repeats: int, root: Path) -> dict[str, float]:
    from sqlmodel import select
    from streamlit.testing.v1 import AppTest

    from catalog.db import session_scope
    from catalog.models import Dataset
    from catalog.services import datasets as svc
    from catalog.services.teams import actor_for

    _catalog(root, size)
    with session_scope() as session:
        admin = actor_for(session, username="admin")

    def listed(**kw: Any) -> None:
        with session_scope() as session:
            total, rows = svc.list_datasets(
                session, actor=admin, scenario="anomaly_detection", limit=PAGE, **kw
            )
            assert total >= len(rows)

    def load_all() -> None:
        with session_scope() as session:
            assert len(session.exec(select(Dataset)).all()) == size

    def render() -> None:
        at = AppTest.from_string(
            "from dashboard.views import datasets\ndatasets.render('anomaly_detection')\n",
            default_timeout=300,
        ).run()
        assert not at.exception, [e.message for e in at.exception]

    render()  # imports and first-run costs out of the measurement
    last = max(0, (size - 1) // PAGE * PAGE)
    return {
        "first page": _median(lambda: listed(), repeats),
        "last page": _median(lambda: listed(offset=last), repeats),
        "search": _median(lambda: listed(search="ds-0001"), repeats),
        "page render": _median(render, repeats),
        "baseline: load all": _median(load_all, repeats),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,10000,100000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("MLOPS_ENV_FILE", "/nonexistent")
    os.environ.setdefault("MLOPS_USER", "admin")
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="mlops-bench-lists-") as tmp:
        results = {size: measure(size, args.repeats, Path(tmp)) for size in sizes}
    base = results[sizes[0]]
    render_ratio = {size: r["page render"] / base["page render"] for size, r in results.items()}
    ok = all(ratio <= TARGET for size, ratio in render_ratio.items() if size <= 10_000)
    if args.json:
        print(json.dumps({"results": results, "render_ratio": render_ratio, "ok": ok}))
        return 0 if ok else 1
    names = list(base)
    print(f"{'datasets':>9} " + " ".join(f"{n:>20}" for n in names) + f" {'render vs ' + str(sizes[0]):>16}")
    for size, r in results.items():
        print(
            f"{size:>9} "
            + " ".join(f"{r[n] * 1000:>17.1f} ms" for n in names)
            + f" {render_ratio[size]:>15.2f}×"
        )
    for size, r in results.items():
        print(
            f"  {size} datasets: first page {r['baseline: load all'] / r['first page']:.1f}× faster than loading "
            "every row"
        )
    print(
        f"target: page render at ≤10,000 datasets within {TARGET}× of {sizes[0]} → {'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
