"""Loading models into the inference server, and swapping a new version in beside the one being served.

What a request reads is one immutable ``Routes`` (the stable version, the canary and its weight, the shadow,
each a ``Loaded``: the model, its contract, its version and the response headers naming it), taken from
``ServerState.routes`` in one attribute read: a request is answered wholly by one model. A ``Target``
(``algorithms.serve.traffic``) is applied by loading and warming up, in a thread, the versions the current
routes lack while they keep answering, then putting the new routes in place by one assignment; no request ever
sees a half-loaded model, and ``/ready`` stays 200 throughout. A target that needs no load (a new weight) is
applied at once.

One load at a time (``start_load``): the same target asked again while it loads is accepted once more (a
retried control call), another one is refused (``LoadBusy``). A failed first load calls ``on_failure`` (the
entrypoint stops the server: there is never a fallback model); a failed later load leaves the current routes
serving and keeps the error for ``/health``.

Memory: the server holds each version of its routes once, and one more while a swap loads it. The first load ends with ``gc.freeze()``: the ~370,000 objects of
mlflow, pandas and the first model are never traversed by the collector again (a full collection over them
stops every thread for ~200 ms). A swap releases the old model once the last request holding it is done:
reference counting frees it, and a collection of the unfrozen objects only (a fraction of a millisecond) frees
the reference cycles of models loaded by swaps. Nothing is unfrozen: that would cost a ~200 ms full collection
per swap, a stall every client would see, to free the first model's few cycles (10-50 objects for ECOD and
Prophet), which stay frozen instead.
"""

from __future__ import annotations

import gc
import logging
import re
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from algorithms.base.contracts import Limits, ScenarioContract, ServedModel
from algorithms.base.scenarios import get_contract
from algorithms.serve.metrics import ServerMetrics
from algorithms.serve.traffic import VERSION_PATTERN, ModelRef, Target

log = logging.getLogger("algorithms.serve")

ModelLoader = Callable[[str], Any]
Headers = tuple[tuple[bytes, bytes], ...]
JSON_HEADER = (b"content-type", b"application/json")
VERSION_HEADER = b"x-model-version"
VERSION_RE = re.compile(VERSION_PATTERN)
MODELS_URI_VERSION = re.compile(r"models:/[^/]+/([0-9]+)")
WARMUP_LIMITS = Limits(
    max_batch_size=2**31,
    max_images=2**31,
    max_image_bytes=2**40,
    max_image_pixels=2**40,
    max_request_pixels=2**40,
    max_body_bytes=2**40,
)
# How long a swap waits for requests still holding the old model before collecting it anyway.
RELEASE_WAIT_SECONDS = 60.0
# While a model loads beside the served one, the loading thread hands the GIL over every 0.5 ms instead of every
# 5 ms, so a request waits less behind it (a server swapping ECOD models under 50 req/s here: p99 of the
# requests around the swaps ~8.5 ms instead of ~11 ms).
LOADING_SWITCH_INTERVAL = 0.0005


def load_pyfunc(uri: str) -> Any:
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(uri)


def check_version(version: str) -> str:
    if not VERSION_RE.fullmatch(version):
        raise ValueError(f"a model version is 1-40 letters, digits, '.', '_' or '-', not {version[:50]!r}")
    return version


def version_of(uri: str, version: str | None) -> str | None:
    """``version`` when given, else the N of a ``models:/name/N`` URI, else None (a local path: unknown)."""
    if version is not None:
        return check_version(version)
    found = MODELS_URI_VERSION.fullmatch(uri)
    return found.group(1) if found else None


@dataclass(frozen=True, slots=True)
class Loaded:
    """A loaded, warmed-up model as requests read it; replaced whole, never changed."""

    served: ServedModel
    contract: ScenarioContract
    scenario: str
    load_seconds: float
    # The headers of every answer the model gives, built once per model (the fast path only reads them).
    headers: Headers

    @property
    def uri(self) -> str:
        return self.served.uri

    @property
    def version(self) -> str | None:
        return self.served.version

    @property
    def ref(self) -> ModelRef:
        return ModelRef(self.served.uri, self.served.version)

    @property
    def label(self) -> str:
        """The version as metrics label it."""
        return self.served.version or "unversioned"


@dataclass(frozen=True, slots=True)
class Routes:
    """The applied target: what answers requests now."""

    target: Target
    stable: Loaded
    canary: Loaded | None
    shadow: Loaded | None
    weight: int
    routing_header: bytes | None

    def models(self) -> list[Loaded]:
        return [m for m in (self.stable, self.canary, self.shadow) if m is not None]


class LoadBusy(Exception):
    """Another target is being loaded; the caller asks again once it is done."""


@dataclass
class ServerState:
    model_uri: str  # the one the server started with
    scenario: str | None
    limits: Limits
    instance_id: str
    routes: Routes | None = None
    loading: Target | None = None  # the target whose versions are being loaded
    load_error: str | None = None
    metrics: ServerMetrics = field(default_factory=ServerMetrics)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def loaded(self) -> Loaded | None:
        """The stable version (None before the first load)."""
        routes = self.routes
        return routes.stable if routes is not None else None

    @property
    def current_uri(self) -> str:
        loaded = self.loaded
        return loaded.uri if loaded is not None else self.model_uri

    @property
    def loading_version(self) -> str | None:
        """The stable version of the target being loaded."""
        loading = self.loading
        return loading.stable.version if loading is not None else None


def load_model(uri: str, version: str | None, *, scenario: str | None, loader: ModelLoader) -> Loaded:
    """Load ``uri`` and answer the contract's warm-up request with it (imports, numba compilation and caches are
    paid before the model answers anyone). The warm-up is not a client request: the limits do not apply."""
    started = time.perf_counter()
    pyfunc = loader(uri)
    try:
        python_model = pyfunc.unwrap_python_model()
    except Exception:  # noqa: BLE001 - flavours other than python_function have no python model
        python_model = None
    metadata = getattr(getattr(pyfunc, "metadata", None), "metadata", None) or {}
    model_scenario = metadata.get("scenario") or getattr(python_model, "scenario", None)
    if scenario and model_scenario and model_scenario != scenario:
        raise ValueError(f"the model is of scenario {model_scenario!r}; this server serves {scenario!r}")
    scenario = scenario or model_scenario
    if not scenario:
        raise ValueError("the model does not say its scenario; pass --scenario")
    contract = get_contract(scenario)
    served = ServedModel(uri=uri, pyfunc=pyfunc, python_model=python_model, version=version)
    contract.predict(contract.warmup_body(served), served, WARMUP_LIMITS)
    headers: Headers = (
        (JSON_HEADER,) if version is None else (JSON_HEADER, (VERSION_HEADER, version.encode()))
    )
    return Loaded(served, contract, scenario, time.perf_counter() - started, headers)


def start_load(
    state: ServerState,
    target: Target,
    loader: ModelLoader,
    on_failure: Callable[[BaseException], None] | None = None,
) -> str:
    """Apply ``target``: 'applied' (its versions are loaded already: in place now), 'served' (it is the
    target served), 'started' (its missing versions load in a thread, then it is applied), 'loading' (already
    under way); ``LoadBusy`` while another target loads."""
    with state.lock:
        if state.loading is not None:
            if state.loading == target:
                return "loading"
            raise LoadBusy(
                f"version {state.loading.stable.version} is being loaded; ask again once it is done"
            )
        current = state.routes
        if current is not None and current.target == target:
            return "served"
        have = {m.ref: m for m in current.models()} if current is not None else {}
        if current is not None and all(ref in have for ref in target.refs()):
            _apply(state, _routes(target, have))
            return "applied"
        state.loading, state.load_error = target, None
    threading.Thread(
        target=_load, args=(state, target, loader, on_failure), name="model-load", daemon=True
    ).start()
    return "started"


def _routes(target: Target, models: dict[ModelRef, Loaded]) -> Routes:
    return Routes(
        target=target,
        stable=models[target.stable],
        canary=models[target.canary] if target.canary else None,
        shadow=models[target.shadow] if target.shadow else None,
        weight=target.weight if target.canary else 0,
        routing_header=target.routing_header.encode() if target.routing_header else None,
    )


def _apply(state: ServerState, routes: Routes) -> None:
    """Put ``routes`` in place (the swap: every new request reads them) and release the models they dropped."""
    previous = state.routes
    state.routes = routes
    state.metrics.show_routes(routes.target)
    if previous is None:
        return
    kept = {id(m.served) for m in routes.models()}
    dropped = [weakref.ref(m.served) for m in previous.models() if id(m.served) not in kept]
    del previous  # this frame must not be what keeps the old models alive
    if dropped:
        threading.Thread(target=_release, args=(dropped,), name="model-release", daemon=True).start()


def _load(
    state: ServerState,
    target: Target,
    loader: ModelLoader,
    on_failure: Callable[[BaseException], None] | None,
) -> None:
    first = state.routes is None
    interval = sys.getswitchinterval()
    if not first:
        sys.setswitchinterval(LOADING_SWITCH_INTERVAL)  # one load at a time: restored below
    current = state.routes
    models = {m.ref: m for m in current.models()} if current is not None else {}
    del current
    try:
        for ref in target.refs():
            if ref not in models:
                models[ref] = load_model(ref.uri, ref.version, scenario=state.scenario, loader=loader)
                if state.scenario is None:
                    state.scenario = models[ref].scenario
    except BaseException as exc:  # noqa: BLE001 - any load failure is reported; a first one stops the server
        with state.lock:
            state.loading, state.load_error = None, f"{type(exc).__name__}: {exc}"
        log.error("failed to load a model of %s:\n%s", target.describe(), traceback.format_exc())
        if first and on_failure is not None:
            on_failure(exc)
        return
    finally:
        sys.setswitchinterval(interval)
    if first:
        # Before the model answers anyone: a full collection over mlflow + pandas objects takes ~200 ms; frozen,
        # they are never traversed again.
        gc.collect()
        gc.freeze()
    routes = _routes(target, models)
    del models
    with state.lock:
        _apply(state, routes)
        state.loading = None
    state.metrics.load_seconds.set(routes.stable.load_seconds)
    state.metrics.ready.set(1)
    log.info("serving %s (%s)", target.describe(), routes.stable.scenario)


def _release(old: list[weakref.ReferenceType[ServedModel]]) -> None:
    """Free the old models: requests still answering with one hold it until they finish (their answer is wholly
    that model's); reference counting frees it then, and a collection of the unfrozen objects its cycles
    (models loaded by swaps are never frozen)."""
    deadline = time.monotonic() + RELEASE_WAIT_SECONDS
    while any(ref() is not None for ref in old) and time.monotonic() < deadline:
        time.sleep(0.01)
    gc.collect()
