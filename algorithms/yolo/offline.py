"""Ultralytics, configured to run offline before it is imported: ``load_ultralytics()`` is the only way the
YOLO modules reach the library.

By default ultralytics probes the network when imported, downloads ``Arial.ttf`` when it checks a dataset,
downloads weights for AMP checks, sends anonymous usage events, and switches on its own MLflow callback
whenever mlflow is installed (it would write ``mlruns/`` and use the fluent API). Here: ``YOLO_OFFLINE`` and
``YOLO_AUTOINSTALL=false`` are set before the import; the config dir (``YOLO_CONFIG_DIR``, default
``<tmp>/mlops-ultralytics``) gets matplotlib's DejaVu Sans under the two font names ultralytics looks for;
its settings turn sync and every integration off and point datasets, weights and runs into that dir. The
training code also passes ``plots=False`` and ``amp=False``. Importing ultralytics also replaces
``PIL.Image.open`` process-wide with a wrapper that, on a file Pillow cannot identify, pip-installs ``pi-heif``
(or, with auto-install off, fails with ``ModuleNotFoundError``); the original is put back, so an undecodable
image stays Pillow's ``UnidentifiedImageError`` for every caller in the process and nothing is installed.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType

CONFIG_DIR_VAR = "YOLO_CONFIG_DIR"
FONT_NAMES: tuple[str, ...] = ("Arial.ttf", "Arial.Unicode.ttf")
INTEGRATIONS_OFF: dict[str, bool] = {
    "sync": False,
    "hub": False,
    "mlflow": False,
    "clearml": False,
    "comet": False,
    "dvc": False,
    "neptune": False,
    "raytune": False,
    "tensorboard": False,
    "wandb": False,
    "vscode_msg": False,
    "openvino_msg": False,
}

_lock = threading.Lock()
_module: ModuleType | None = None


def config_dir() -> Path:
    """The directory ultralytics keeps its settings and fonts in (``$YOLO_CONFIG_DIR/Ultralytics``)."""
    root = Path(os.environ.get(CONFIG_DIR_VAR) or Path(tempfile.gettempdir()) / "mlops-ultralytics")
    return root / "Ultralytics"


def _install_fonts(directory: Path) -> None:
    """ultralytics downloads Arial when it checks a detection dataset unless the file is already there."""
    import matplotlib

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in FONT_NAMES:
        target = directory / name
        if not target.exists():
            partial = target.with_suffix(f".{os.getpid()}.part")
            shutil.copyfile(source, partial)
            partial.replace(target)


def _environment() -> None:
    os.environ["YOLO_OFFLINE"] = "true"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ.setdefault("YOLO_VERBOSE", "false")
    # A platform API key would make the trainer stream to Ultralytics' service.
    os.environ.pop("ULTRALYTICS_API_KEY", None)
    directory = config_dir()
    os.environ[CONFIG_DIR_VAR] = str(directory.parent)
    directory.mkdir(parents=True, exist_ok=True)
    _install_fonts(directory)


def _restore_pillow_open() -> None:
    import PIL.Image
    from ultralytics.utils import patches

    original = getattr(patches, "_image_open", None)
    if original is not None and PIL.Image.open is not original:
        PIL.Image.open = original


def load_ultralytics() -> ModuleType:
    """The ``ultralytics`` module, imported offline with every integration off (idempotent, thread-safe)."""
    global _module
    with _lock:
        if _module is not None:
            return _module
        if "ultralytics" in sys.modules and os.environ.get("YOLO_OFFLINE", "").lower() != "true":
            raise RuntimeError(
                "ultralytics was imported before algorithms.yolo.offline configured it; import it only "
                "through load_ultralytics() so that it never reaches the network"
            )
        _environment()
        import ultralytics
        from ultralytics.utils import SETTINGS

        _restore_pillow_open()

        base = config_dir()
        wanted: dict[str, object] = {k: v for k, v in INTEGRATIONS_OFF.items() if k in SETTINGS}
        wanted |= {
            "datasets_dir": str(base / "datasets"),
            "weights_dir": str(base / "weights"),
            "runs_dir": str(base / "runs"),
            "api_key": "",
        }
        if any(SETTINGS.get(k) != v for k, v in wanted.items()):
            SETTINGS.update(wanted)
        _module = ultralytics
        return ultralytics
