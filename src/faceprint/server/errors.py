"""One error envelope for every non-2xx answer, and the map from faceprint's exception tree.

Every error response is ``{"error": {"code": "<snake_case>", "message": "<one line>"},
"request_id": "<id>"}`` with a real status code. Client mistakes (the ``ValueError`` branches of
:mod:`faceprint.errors`) are 4xx with the library's own one-line message; anything unexpected is
a 500 whose message names only the request id (the traceback goes to the server log, never to the
client).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from faceprint.errors import CODES, FaceprintError, IndexCorruptError, ModelError, StorageError

__all__ = ["ApiError", "envelope", "install_error_handlers", "status_of"]

logger = logging.getLogger(__name__)

#: status of Starlette/FastAPI HTTP errors → code
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(Exception):
    """An error the HTTP layer raises itself: status, snake_case code (one of
    :data:`faceprint.errors.CODES`, so the client knows it), one-line message."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        if code not in CODES:
            raise ValueError(f"error code {code!r} is not declared in faceprint.errors")
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def status_of(exc: FaceprintError) -> tuple[int, str]:
    """(HTTP status, error code) of a faceprint error: those its class declares; a
    ``ValueError`` branch that declares none is a client's mistake."""
    if type(exc).code == "internal_error" and isinstance(exc, ValueError):
        return 400, "invalid_argument"
    return type(exc).http_status, type(exc).code


def request_id(request: Request) -> str:
    """The id the request-id middleware gave this request."""
    return str(getattr(request.state, "request_id", ""))


def envelope(request_id: str, status: int, code: str, message: str, **headers: str) -> JSONResponse:
    """The JSON error response."""
    body = {"error": {"code": code, "message": _one_line(message)}, "request_id": request_id}
    return JSONResponse(body, status_code=status, headers=headers or None)


def _one_line(message: str) -> str:
    text = " ".join(str(message).split())
    return text[:500] if text else "error"


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return envelope(request_id(request), exc.status, exc.code, exc.message, **exc.headers)


async def _faceprint_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FaceprintError)
    status, code = status_of(exc)
    if status >= 500:
        logger.error("request %s failed: %s", request_id(request), exc, exc_info=exc)
        return envelope(request_id(request), status, code, _server_message(exc, request))
    return envelope(request_id(request), status, code, str(exc))


def _server_message(exc: FaceprintError, request: Request) -> str:
    if isinstance(exc, (StorageError, IndexCorruptError, ModelError)):
        return f"the service cannot serve this now ({type(exc).__name__}); request {request_id(request)}"
    return f"internal error; see the server log for request {request_id(request)}"


async def _value_error(request: Request, exc: Exception) -> JSONResponse:
    return envelope(request_id(request), 400, "invalid_argument", str(exc))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code == 400 and "parsing the body" in message:
        message = "malformed multipart or JSON body (truncated or not what Content-Type says)"
    return envelope(request_id(request), exc.status_code, code, message, **(exc.headers or {}))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return envelope(request_id(request), 422, "invalid_request", _describe(exc.errors()))


def _describe(errors: Any) -> str:
    parts = []
    for err in list(errors)[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("request %s failed", request_id(request), exc_info=exc)
    message = f"internal error; see the server log for request {request_id(request)}"
    return envelope(request_id(request), 500, "internal_error", message)


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception to the envelope."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(FaceprintError, _faceprint_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ValueError, _value_error)
    app.add_exception_handler(Exception, _unexpected)
