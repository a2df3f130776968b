"""Where a client finds its server and token: arguments, then ``MLOPS_SERVER``/``MLOPS_TOKEN``, then the
credentials `mlops login` stored for that server in the user's config directory
(``$XDG_CONFIG_HOME/mlops-lite/credentials.json``, default ``~/.config``; created 0600, in a 0700 directory).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SERVER_ENV = "MLOPS_SERVER"
TOKEN_ENV = "MLOPS_TOKEN"


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mlops-lite"


def credentials_file() -> Path:
    return config_dir() / "credentials.json"


def _read() -> dict[str, dict[str, str]]:
    try:
        data = json.loads(credentials_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def normalize(server: str) -> str:
    return server.strip().rstrip("/")


def stored_token(server: str) -> str | None:
    entry = _read().get(normalize(server))
    token = entry.get("token") if isinstance(entry, dict) else None
    return token if isinstance(token, str) and token else None


def stored_entry(server: str) -> dict[str, str] | None:
    """What `mlops login` kept for ``server``: token, username, token_id, expires_at."""
    entry = _read().get(normalize(server))
    return entry if isinstance(entry, dict) else None


def default_server() -> str | None:
    """MLOPS_SERVER, else the server of the last `mlops login`."""
    if os.environ.get(SERVER_ENV):
        return normalize(os.environ[SERVER_ENV])
    data = _read()
    last = data.get("_default", {}).get("server") if isinstance(data.get("_default"), dict) else None
    return last if isinstance(last, str) else None


def store_token(server: str, token: str, *, username: str, token_id: int, expires_at: str) -> Path:
    """Keep a token for ``server`` (and make it the default server); the file is created 0600."""
    server = normalize(server)
    data = _read()
    data[server] = {"token": token, "username": username, "token_id": str(token_id), "expires_at": expires_at}
    data["_default"] = {"server": server}
    return _write(data)


def forget_token(server: str) -> dict[str, str] | None:
    data = _read()
    entry = data.pop(normalize(server), None)
    if data.get("_default", {}).get("server") == normalize(server):
        data.pop("_default")
    _write(data)
    return entry


def _write(data: dict[str, dict[str, str]]) -> Path:
    path = credentials_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, path)
    return path
