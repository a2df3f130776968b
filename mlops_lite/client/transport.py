"""HTTP to the API: the bearer token on every request, errors turned into ``mlops_lite.client.errors``, pages
iterated, bodies streamed both ways (an upload is read from its file as it is sent; a download is written to
its file as it arrives)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from mlops_lite.client.errors import InvalidRequest, MlopsError, Unreachable, error_for
from mlops_lite.schemas.common import Page
from mlops_lite.schemas.datasets import SHA256_HEADER

M = TypeVar("M", bound=BaseModel)
PREFIX = "/api/v1"
CHUNK = 1024 * 1024
USER_AGENT = "mlops-lite-sdk/1"


class Transport:
    def __init__(
        self, server: str, token: str | None, *, timeout: float = 60.0, verify: bool | str = True
    ) -> None:
        self.server = server.rstrip("/")
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.server + PREFIX,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=10.0),
            verify=verify,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    @staticmethod
    def _raise_for(response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        if not response.is_closed:
            response.read()
        code, message = None, f"HTTP {response.status_code}"
        try:
            error = response.json()["error"]
            code, message = str(error["code"]), str(error["message"])
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {response.status_code}: {response.text[:300]}"
        raise error_for(response.status_code, code, message)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Unreachable(f"the platform API at {self.server} did not answer: {exc}") from None
        self._raise_for(response)
        return response

    def get(self, path: str, model: type[M], **params: Any) -> M:
        return model.model_validate(self.request("GET", path, params=_clean(params)).json())

    def get_list(self, path: str, model: type[M], **params: Any) -> list[M]:
        return [
            model.model_validate(item) for item in self.request("GET", path, params=_clean(params)).json()
        ]

    def send(
        self,
        method: str,
        path: str,
        model: type[M],
        body: BaseModel | dict[str, Any] | None = None,
        **params: Any,
    ) -> M:
        payload = body.model_dump(mode="json", exclude_unset=True) if isinstance(body, BaseModel) else body
        response = self.request(method, path, json=payload, params=_clean(params))
        return model.model_validate(response.json())

    def pages(self, path: str, model: type[M], *, page_size: int = 100, **params: Any) -> Iterator[M]:
        """Every row of a paged list, fetched a page at a time."""
        offset = 0
        while True:
            page = Page[model].model_validate(  # type: ignore[valid-type]
                self.request(
                    "GET", path, params=_clean({**params, "offset": offset, "limit": page_size})
                ).json()
            )
            yield from page.items
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return

    def page(self, path: str, model: type[M], **params: Any) -> Page[M]:
        return Page[model].model_validate(self.request("GET", path, params=_clean(params)).json())  # type: ignore[valid-type]

    def upload(
        self,
        path: str,
        model: type[M],
        file: Path,
        *,
        content_type: str = "application/octet-stream",
        **params: Any,
    ) -> M:
        """Stream ``file`` as the request body (never read whole into memory)."""
        size = file.stat().st_size
        with file.open("rb") as fh:
            response = self.request(
                "POST",
                path,
                content=_chunks(fh),
                params=_clean({**params, "filename": file.name}),
                headers={"Content-Type": content_type, "Content-Length": str(size)},
            )
        return model.model_validate(response.json())

    def download(self, path: str, dest: Path, **params: Any) -> Path:
        """Stream a response body into ``dest`` (written to a temporary name, renamed when complete). ``dest``
        may be an existing directory: the file then takes the name the server gives it. A body whose answer
        declares its sha256 (``X-Checksum-Sha256``) is kept only if it matches."""
        tmp: Path | None = None  # set once the answer is known good: only a file this call wrote is removed
        digest = hashlib.sha256()
        try:
            with self._http.stream("GET", path, params=_clean(params)) as response:
                self._raise_for(response)
                if dest.is_dir():
                    dest = dest / _attachment_name(response, fallback=path.rstrip("/").rsplit("/", 1)[-1])
                tmp = dest.with_name(dest.name + ".part")
                expected = response.headers.get(SHA256_HEADER)
                with tmp.open("wb") as out:
                    for chunk in response.iter_bytes(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        except httpx.RemoteProtocolError as exc:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            raise MlopsError(
                f"the download from {self.server} was cut short ({exc}): the server found the stored data "
                "did not match its checksum, or the connection dropped; nothing was kept",
                code="incomplete_download",
            ) from None
        except httpx.TransportError as exc:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            raise Unreachable(f"the platform API at {self.server} did not answer: {exc}") from None
        except BaseException:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            raise
        assert tmp is not None  # the answer was good, so its file was written
        if expected and digest.hexdigest() != expected.lower():
            tmp.unlink(missing_ok=True)
            raise MlopsError(
                f"the download's sha256 is {digest.hexdigest()}, the server declared {expected[:64]}; "
                "nothing was kept",
                code="checksum_mismatch",
            )
        tmp.replace(dest)
        return dest


def build(model: type[M], **fields: Any) -> M:
    """A request body, checked here as the server checks it: a bad value is ``InvalidRequest`` with the
    problems on one line (the server's words), before anything is sent."""
    try:
        return model(**fields)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in error['loc']) or 'request'}: {error['msg']}"
            for error in exc.errors()[:5]
        ]
        raise InvalidRequest("invalid request: " + "; ".join(problems), code="validation_error") from None


def team_filter(team_id: int | None, include_children: bool) -> dict[str, Any]:
    """A list's team filter as query parameters: ``team_id``, and with it ``include_children`` (the team's
    sub-teams too); nothing when no team is given."""
    if team_id is None:
        if include_children:
            raise InvalidRequest("include_children needs a team_id")
        return {}
    return {"team_id": team_id, "include_children": include_children or None}


def _attachment_name(response: httpx.Response, *, fallback: str) -> str:
    """The file name of ``Content-Disposition`` (its last path part only: never a path the server chose)."""
    disposition = response.headers.get("content-disposition", "")
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename" and value.strip().strip('"'):
            name = Path(value.strip().strip('"').replace("\\", "/")).name
            if name not in ("", ".", ".."):
                return name
    return fallback


def _chunks(fh: Any) -> Iterable[bytes]:
    while chunk := fh.read(CHUNK):
        yield chunk


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}
