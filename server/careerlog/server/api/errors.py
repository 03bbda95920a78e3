"""The API's errors: a 4xx with a stable ``code`` a program can branch on.

Every error body is Litestar's usual ``{"status_code", "detail", "extra"?}``
plus ``code``, so a client that only shows ``detail`` keeps working and one
that reacts to errors reads ``code``. The codes are part of the API: they
are listed in docs/api.md and never change meaning.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
)

from careerlog.server.readmodels.rows import OutOfRange

__all__ = [
    "ERROR_RESPONSES",
    "ApiError",
    "BadRequest",
    "ErrorBody",
    "Forbidden",
    "NotFound",
    "api_error_response",
    "out_of_range_response",
]


class ErrorBody(msgspec.Struct, kw_only=True):
    """The body of every error (documented in OpenAPI for each route)."""

    status_code: int
    #: Stable: programs branch on it (docs/api.md lists every code).
    code: str
    #: For people; may be reworded.
    detail: str
    #: Parameter validation: ``[{"message", "key", "source"}]``.
    extra: list[Any] | dict[str, Any] | None = None


def _spec(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorBody, description=description, generate_examples=False)


#: The error responses every API route may give, for its OpenAPI entry.
ERROR_RESPONSES: dict[int, ResponseSpec] = {
    HTTP_400_BAD_REQUEST: _spec("A bad parameter (see code)."),
    HTTP_401_UNAUTHORIZED: _spec("No device token, or an unknown or revoked one."),
    HTTP_403_FORBIDDEN: _spec("Not shared, or not an admin (see code)."),
    HTTP_404_NOT_FOUND: _spec("No such goal, person or organisation (see code)."),
}


class ApiError(HTTPException):
    """An error with a stable code; subclasses fix the status."""

    def __init__(self, code: str, detail: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail=detail, extra=extra)
        self.code = code


class BadRequest(ApiError):
    status_code = HTTP_400_BAD_REQUEST


class Forbidden(ApiError):
    status_code = HTTP_403_FORBIDDEN


class NotFound(ApiError):
    status_code = HTTP_404_NOT_FOUND


def _code(exc: HTTPException) -> str:
    if isinstance(exc, ApiError):
        return exc.code
    if isinstance(exc, ValidationException):
        return "invalid_parameter"
    if isinstance(exc, NotAuthorizedException):
        return "unauthorized"
    if isinstance(exc, PermissionDeniedException):
        return "forbidden"
    if exc.status_code == HTTP_404_NOT_FOUND:
        return "not_found"
    if isinstance(exc, MethodNotAllowedException):
        return "method_not_allowed"
    return "error"


def api_error_response(_request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Litestar's error body with the stable ``code`` added."""
    body: dict[str, Any] = {
        "status_code": exc.status_code,
        "code": _code(exc),
        "detail": exc.detail,
    }
    if exc.extra:
        body["extra"] = exc.extra
    return Response(body, status_code=exc.status_code, headers=exc.headers)


def out_of_range_response(request: Request[Any, Any, Any], exc: OutOfRange) -> Response[Any]:
    """A time the read models cannot name, past the API's own checks: a 400, not a 500."""
    return api_error_response(request, BadRequest("date_out_of_range", str(exc)))
