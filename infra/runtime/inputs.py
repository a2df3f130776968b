"""A container's input files (``ContainerSpec.inputs``) as each runtime hands them over, pure but for the fetch:

- process: ``records`` go into the state file; the launcher fetches them (``infra.runtime.launcher.fetch_inputs``)
  into ``<work dir>/input`` before it starts the command;
- docker: ``input_archive`` streams them as a tar into the created container (``put_archive``) before it starts;
- kubernetes: ``records`` as JSON in the container's Secret; an init container of the platform image fetches them
  with the launcher's code (``python -m infra.runtime.launcher --fetch-env MLOPS_INPUTS``) into an ``emptyDir``
  mounted read-only at ``/mlops/input`` in the main container.

Every way checks each file's size and sha256 before the command can see it, and no error quotes a URL (a
presigned URL is a credential).
"""

from __future__ import annotations

import hashlib
import tarfile
import time
from collections.abc import Iterator, Sequence
from typing import Any

from infra.runtime.base import INPUT_DIR, InputFile, RuntimeError_

FETCH_ENV = "MLOPS_INPUTS"  # the variable holding the inputs' JSON records (Kubernetes init container)
FETCH_CHUNK = 1024 * 1024


def records(files: Sequence[InputFile], input_dir: str) -> list[dict[str, Any]]:
    """What the launcher's ``fetch_inputs`` reads: each file's URL, size, sha256 and the path to write."""
    return [
        {"name": f.name, "url": f.url, "size": f.size, "sha256": f.sha256, "path": f"{input_dir}/{f.name}"}
        for f in files
    ]


def input_archive(files: Sequence[InputFile], *, timeout: float = 60.0) -> Iterator[bytes]:
    """A tar stream of ``files`` under ``mlops/input/`` (for ``put_archive`` at ``/``), each body fetched from its
    URL while the tar is read and checked against its size and sha256; a mismatch raises ``RuntimeError_``
    before the archive's end, so the engine never accepts a truncated or altered file."""
    import requests

    now = int(time.time())
    parts = INPUT_DIR.strip("/").split("/")
    for depth in range(1, len(parts) + 1):
        info = tarfile.TarInfo("/".join(parts[:depth]))
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, now
        yield info.tobuf(tarfile.GNU_FORMAT)
    for file in files:
        info = tarfile.TarInfo(f"{'/'.join(parts)}/{file.name}")
        info.size, info.mode, info.mtime = file.size, 0o444, now
        yield info.tobuf(tarfile.GNU_FORMAT)
        digest, received = hashlib.sha256(), 0
        try:
            with requests.get(file.url, stream=True, timeout=(10.0, timeout)) as response:
                if response.status_code != 200:
                    raise RuntimeError_(f"could not fetch input {file.name}: HTTP {response.status_code}")
                for chunk in response.iter_content(FETCH_CHUNK):
                    received += len(chunk)
                    if received > file.size:
                        raise RuntimeError_(f"input {file.name}: more than the {file.size} bytes expected")
                    digest.update(chunk)
                    yield chunk
        except requests.RequestException as exc:
            raise RuntimeError_(
                f"could not fetch input {file.name}: {type(exc).__name__}", transient=True
            ) from None
        if received != file.size or digest.hexdigest() != file.sha256.lower():
            raise RuntimeError_(
                f"input {file.name}: {received} bytes, not the {file.size} bytes and sha256 expected"
            )
        yield b"\0" * (-file.size % tarfile.BLOCKSIZE)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)
