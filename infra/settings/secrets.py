"""Per-install secrets: generated once, kept in ``<data dir>/secrets.json`` (mode 0600, directory 0700).

Every server the embedded platform starts authenticates its callers with these (S3 keys, NATS users, the
Prefect API's auth string, MLflow's admin, SeaweedFS' internal JWT keys), and the platform signs its session
tokens and derives its inference servers' tokens from ``secret_key``. Nothing here has a fixed default: a
fresh install gets fresh values. Settings fields default to them (``secret_default``); production passes
its own values through the ``MLOPS_*`` variables, and then the file is never read for those fields.

The file is created by `mlops init` or by whichever process first asks for a secret, atomically and under a
lock, so concurrent first starts agree on one set. A name added by a newer version is added to an existing
file; a value already there never changes.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import string
from collections.abc import Callable
from pathlib import Path

from infra.settings.base import default_data_dir

SECRETS_FILE = "secrets.json"
_ALNUM = string.ascii_letters + string.digits


def _token(length: int) -> Callable[[], str]:
    # Letters and digits only: the values go into URLs (basic auth), TOML, the NATS config and env files.
    return lambda: "".join(secrets.choice(_ALNUM) for _ in range(length))


# name → generator. S3 access keys are upper-case alphanumerics like AWS's; everything else is 32-64 chars.
GENERATORS: dict[str, Callable[[], str]] = {
    "s3_access_key": lambda: (
        "MLOPS" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(15))
    ),
    "s3_secret_key": _token(40),
    "nats_password": _token(32),
    "nats_client_password": _token(32),
    "prefect_password": _token(32),
    "mlflow_password": _token(32),
    "mlflow_flask_secret": _token(48),
    "secret_key": _token(64),
    "seaweedfs_volume_write_key": _token(48),
    "seaweedfs_volume_read_key": _token(48),
    "seaweedfs_filer_write_key": _token(48),
    "seaweedfs_filer_read_key": _token(48),
}


# Names this process generated (per file): the settings may create the file before `mlops init` reports on it.
_generated_here: dict[Path, list[str]] = {}


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it 0700: it holds credentials and the catalog."""
    path.mkdir(parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def secrets_path(data_dir: Path | None = None) -> Path:
    return (data_dir or default_data_dir()) / SECRETS_FILE


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise RuntimeError(
            f"{path} is not valid JSON ({exc}); restore it or remove it to generate new "
            "secrets (servers started with the old ones will refuse the new ones)"
        ) from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise RuntimeError(f"{path} must hold a JSON object of strings")
    return data


def _write_private(path: Path, data: dict[str, str]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
    os.replace(tmp, path)


def ensure_secrets(data_dir: Path | None = None) -> tuple[Path, list[str]]:
    """Make sure every known secret exists; returns the file and the names this process generated."""
    path = secrets_path(data_dir)
    ensure_private_dir(path.parent)
    current = _read(path)
    missing = [name for name in GENERATORS if name not in current]
    if not missing and path.stat().st_mode & 0o077 == 0:
        return path, list(_generated_here.get(path, []))
    with open(path.with_name(f".{SECRETS_FILE}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = _read(path)  # another process may have written it while we waited
        missing = [name for name in GENERATORS if name not in current]
        current.update({name: GENERATORS[name]() for name in missing})
        _write_private(path, current)
    _generated_here.setdefault(path, []).extend(missing)
    return path, list(_generated_here[path])


def install_secret(name: str, data_dir: Path | None = None) -> str:
    """The install's value of secret ``name`` (generated on first use)."""
    if name not in GENERATORS:
        raise KeyError(f"unknown secret {name!r}")
    path = secrets_path(data_dir)
    value = _read(path).get(name)
    if value is None:
        ensure_secrets(data_dir)
        value = _read(path)[name]
    return value


def secret_default(name: str) -> Callable[[], str]:
    """A ``default_factory`` for a settings field whose default is this install's secret ``name``."""
    return lambda: install_secret(name)
