"""Gates: points where the platform's own processes pause until the test opens them, so a fault can be
injected while a publish, a training and a serving start are each in flight.

A ``sitecustomize`` module put on the platform's PYTHONPATH patches, on import, the call each operation makes
at its gate (every Python process of the platform loads it; only these calls wait):
- ``publish``  ``ObjectStore.put_stream`` of a release zip (in the publish flow's process, before its upload);
- ``train``    ECOD's fit (in the training container);
- ``serve``    ``mlflow.pyfunc.load_model`` in an inference server (``python -m algorithms.serve``).
A process at a gate writes ``<dir>/<gate>.waiting.<pid>``; it goes on once ``<dir>/<gate>.open`` exists
(or after 10 minutes).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

SITECUSTOMIZE = '''
"""Test only (tests/faults/gates.py): pause at named gates until the test opens them."""
import importlib.abc, importlib.util, os, sys, time

GATES = {directory!r}


def _wait(gate):
    open(os.path.join(GATES, f"{{gate}}.waiting.{{os.getpid()}}"), "w").close()
    deadline = time.monotonic() + 600
    while not os.path.exists(os.path.join(GATES, f"{{gate}}.open")) and time.monotonic() < deadline:
        time.sleep(0.2)


def _patch_objectstore(module):
    put_stream = module.ObjectStore.put_stream

    def gated(self, key, *args, **kwargs):
        if key.startswith("releases/"):
            _wait("publish")
        return put_stream(self, key, *args, **kwargs)

    module.ObjectStore.put_stream = gated


def _patch_ecod(module):
    fit = module.EcodAlgorithm.fit

    def gated(self, *args, **kwargs):
        _wait("train")
        return fit(self, *args, **kwargs)

    module.EcodAlgorithm.fit = gated


def _patch_pyfunc(module):
    load_model = module.load_model

    def gated(*args, **kwargs):
        # Decided at call time: while `python -m algorithms.serve` imports its package, argv[0] is still "-m".
        if "algorithms/serve" in (sys.argv[0] if sys.argv else ""):
            _wait("serve")
        return load_model(*args, **kwargs)

    module.load_model = gated


PATCHES = {{"infra.objectstore": _patch_objectstore, "algorithms.ecod": _patch_ecod,
           "mlflow.pyfunc": _patch_pyfunc}}


class _Gates(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        patch = PATCHES.pop(name, None)
        if patch is None:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            if PATCHES:
                sys.meta_path.insert(0, self)
        run_module = spec.loader.exec_module

        def exec_module(module):
            run_module(module)
            patch(module)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _Gates())
'''


class Gates:
    def __init__(self, root: Path) -> None:
        self.dir = root / "gates"
        self.hook = root / "gate-hook"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.hook.mkdir(parents=True, exist_ok=True)
        (self.hook / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE.format(directory=str(self.dir))))

    def waiting(self, gate: str) -> bool:
        return any(self.dir.glob(f"{gate}.waiting.*"))

    def open(self, *gates: str) -> None:
        for gate in gates:
            (self.dir / f"{gate}.open").touch()

    def close_all(self) -> None:
        for path in self.dir.iterdir():
            path.unlink()
