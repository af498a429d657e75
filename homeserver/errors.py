"""The one error type of the server.

Anything in the core may raise a :class:`MatrixError`; the HTTP layer alone
turns it into a ``{"errcode": ..., "error": ...}`` response with its status.
"""

from __future__ import annotations

from typing import Any


class MatrixError(Exception):
    """An error a client is told about, with the spec's HTTP status and errcode."""

    status = 400
    errcode = "M_UNKNOWN"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        errcode: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if errcode is not None:
            self.errcode = errcode
        self.extra = extra

    def to_json(self) -> dict[str, Any]:
        return {"errcode": self.errcode, "error": self.message, **self.extra}


class Unrecognized(MatrixError):
    status, errcode = 404, "M_UNRECOGNIZED"


class NotFound(MatrixError):
    status, errcode = 404, "M_NOT_FOUND"


class Forbidden(MatrixError):
    status, errcode = 403, "M_FORBIDDEN"


class Unauthorized(MatrixError):
    """A federation request whose signature cannot be verified."""

    status, errcode = 401, "M_UNAUTHORIZED"


class NotJson(MatrixError):
    status, errcode = 400, "M_NOT_JSON"


class BadJson(MatrixError):
    status, errcode = 400, "M_BAD_JSON"


class InvalidParam(MatrixError):
    status, errcode = 400, "M_INVALID_PARAM"


class MissingParam(MatrixError):
    status, errcode = 400, "M_MISSING_PARAM"


class TooLarge(MatrixError):
    status, errcode = 413, "M_TOO_LARGE"


class MissingToken(MatrixError):
    status, errcode = 401, "M_MISSING_TOKEN"


class UnknownToken(MatrixError):
    status, errcode = 401, "M_UNKNOWN_TOKEN"


class UserInUse(MatrixError):
    status, errcode = 400, "M_USER_IN_USE"


class InvalidUsername(MatrixError):
    status, errcode = 400, "M_INVALID_USERNAME"


class LimitExceeded(MatrixError):
    status, errcode = 429, "M_LIMIT_EXCEEDED"

    def __init__(self, retry_after_ms: int) -> None:
        super().__init__("Too many requests", retry_after_ms=retry_after_ms)


class InteractiveAuthRequired(MatrixError):
    """401 carrying the user-interactive auth flows; not an error to the client."""

    status, errcode = 401, "M_FORBIDDEN"

    def __init__(self, session: str, flows: list[dict[str, Any]], params: dict | None = None):
        super().__init__("Interactive authentication required")
        self.body = {"session": session, "flows": flows, "params": params or {}, "completed": []}

    def to_json(self) -> dict[str, Any]:
        return self.body
