"""Loading models into the inference server, and swapping a new version in beside the one being served.

What a request reads is one immutable ``Loaded`` (the model, its contract, its version and the response
headers naming it), taken from ``ServerState.loaded`` in one attribute read: a request is answered wholly by one
model. A new version is loaded and warmed up in a thread while the current one keeps answering, then put in
place by one assignment; no request ever sees a half-loaded model, and ``/ready`` stays 200 throughout.

One load at a time (``start_load``): the same (URI, version) asked again while it loads is accepted once more
(a retried control call), another one is refused (``LoadBusy``). A failed first load calls ``on_failure`` (the
entrypoint stops the server: there is never a fallback model); a failed later load leaves the current model
serving and keeps the error for ``/health``.

Memory: the server briefly holds two models. The first load ends with ``gc.freeze()``: the ~370,000 objects of
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

log = logging.getLogger("algorithms.serve")

ModelLoader = Callable[[str], Any]
Headers = tuple[tuple[bytes, bytes], ...]
JSON_HEADER = (b"content-type", b"application/json")
VERSION_HEADER = b"x-model-version"
# A version goes into a response header: digits, letters and . _ - only (never CR/LF or anything to inject).
VERSION_RE = re.compile(r"[A-Za-z0-9._-]{1,40}")
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


class LoadBusy(Exception):
    """Another version is being loaded; the caller asks again once it is done."""


@dataclass
class ServerState:
    model_uri: str  # the one the server started with
    scenario: str | None
    limits: Limits
    instance_id: str
    loaded: Loaded | None = None
    loading: tuple[str, str | None] | None = None  # (URI, version) being loaded
    load_error: str | None = None
    metrics: ServerMetrics = field(default_factory=ServerMetrics)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def current_uri(self) -> str:
        loaded = self.loaded
        return loaded.uri if loaded is not None else self.model_uri

    @property
    def loading_version(self) -> str | None:
        loading = self.loading
        return loading[1] if loading is not None else None


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
    scenario = scenario or metadata.get("scenario") or getattr(python_model, "scenario", None)
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
    uri: str,
    version: str | None,
    loader: ModelLoader,
    on_failure: Callable[[BaseException], None] | None = None,
) -> str:
    """Start loading (``uri``, ``version``) in a thread: 'started', 'loading' (already under way), 'served'
    (already the served model); ``LoadBusy`` while another one loads."""
    with state.lock:
        if state.loading is not None:
            if state.loading == (uri, version):
                return "loading"
            raise LoadBusy(f"version {state.loading[1]} is being loaded; ask again once it is done")
        current = state.loaded
        if current is not None and (current.uri, current.version) == (uri, version):
            return "served"
        state.loading, state.load_error = (uri, version), None
    threading.Thread(
        target=_load, args=(state, uri, version, loader, on_failure), name="model-load", daemon=True
    ).start()
    return "started"


def _load(
    state: ServerState,
    uri: str,
    version: str | None,
    loader: ModelLoader,
    on_failure: Callable[[BaseException], None] | None,
) -> None:
    first = state.loaded is None
    interval = sys.getswitchinterval()
    if not first:
        sys.setswitchinterval(LOADING_SWITCH_INTERVAL)  # one load at a time: restored below
    try:
        loaded = load_model(uri, version, scenario=state.scenario, loader=loader)
    except BaseException as exc:  # noqa: BLE001 - any load failure is reported; a first one stops the server
        with state.lock:
            state.loading, state.load_error = None, f"{type(exc).__name__}: {exc}"
        log.error("failed to load model %s:\n%s", uri, traceback.format_exc())
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
    previous = state.loaded
    state.scenario = loaded.scenario
    state.loaded = loaded  # the swap: from here on every new request reads the new model
    with state.lock:
        state.loading = None
    state.metrics.load_seconds.set(loaded.load_seconds)
    state.metrics.ready.set(1)
    log.info("model %s (%s, version %s) ready in %.2f s", uri, loaded.scenario, version, loaded.load_seconds)
    if previous is None:
        return
    old = weakref.ref(previous.served)
    del previous  # this frame must not be what keeps the old model alive
    _release(old)


def _release(old: weakref.ReferenceType[ServedModel]) -> None:
    """Free the old model: requests still answering with it hold it until they finish (their answer is wholly
    the old model's); reference counting frees it then, and a collection of the unfrozen objects its cycles
    (models loaded by swaps are never frozen)."""
    deadline = time.monotonic() + RELEASE_WAIT_SECONDS
    while old() is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    gc.collect()
