"""The SDK's errors: one class per stable error code of the API (``code``, ``status`` and the server's
message), so a script can ``except NotFound`` rather than parse messages."""

from __future__ import annotations


class MlopsError(Exception):
    """An error answer of the API (or no answer: ``Unreachable``)."""

    code = "error"

    def __init__(self, message: str, *, status: int = 0, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        if code:
            self.code = code


class Unreachable(MlopsError):
    code = "unreachable"


class Unauthenticated(MlopsError):
    code = "unauthenticated"


class PermissionDenied(MlopsError):
    code = "permission_denied"


class NotFound(MlopsError):
    code = "not_found"


class Conflict(MlopsError):
    code = "conflict"


class InvalidRequest(MlopsError):
    code = "validation_error"


class Unavailable(MlopsError):
    """The platform could not do it now (Prefect, a serving or the object store did not answer)."""

    code = "unavailable"


class TimedOut(MlopsError):
    """A wait helper's deadline passed; the work goes on."""

    code = "timed_out"


_BY_CODE: dict[str, type[MlopsError]] = {
    cls.code: cls
    for cls in (Unauthenticated, PermissionDenied, NotFound, Conflict, InvalidRequest, Unavailable)
}
_BY_STATUS: dict[int, type[MlopsError]] = {
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: InvalidRequest,
    503: Unavailable,
}


def error_for(status: int, code: str | None, message: str) -> MlopsError:
    cls = (
        _BY_CODE.get(code or "")
        or _BY_STATUS.get(status)
        or (InvalidRequest if 400 <= status < 500 else MlopsError)
    )
    return cls(message, status=status, code=code)
