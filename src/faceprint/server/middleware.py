"""The outermost layer of every request: request id, body-size limit, security headers, access
log, and a last-resort 500 envelope (a pure ASGI middleware, so it sees every response, errors
included, and can refuse an oversized body before the application reads it)."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SECURITY_HEADERS", "RequestMiddleware"]

access_log = logging.getLogger("faceprint.server.access")
logger = logging.getLogger(__name__)

SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "Cross-Origin-Resource-Policy": "same-origin",
}
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestMiddleware:
    """Request id (``X-Request-ID``, the client's when well-formed), body limit per path
    (``body_limit(path) -> bytes``), security headers, ``Cache-Control: no-store`` on API
    answers, one structured access-log line per request, and a 500 envelope for anything that
    escaped the exception handlers (the traceback is logged, never sent)."""

    def __init__(
        self, app: ASGIApp, body_limit: Callable[[str], int], body_timeout: float = 30.0
    ) -> None:
        self.app = app
        self.body_limit = body_limit
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        limit = self.body_limit(scope["path"])
        started = time.perf_counter()
        status = {"code": 0}
        cut = {"off": False, "slow": False}  # the body passed the limit / stalled while read

        held: dict[str, Any] = {"start": None, "body": b""}  # a plain-text error, rewritten

        async def emit(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = message.get("headers", [])
                if message["status"] >= 400 and not (_is_json(headers) or _is_page(headers)):
                    held["start"] = message  # e.g. the CORS middleware's refused preflight
                    return
                message["headers"] = _with_headers(message.get("headers", []), rid, scope)
            elif held["start"] is not None:
                held["body"] += message.get("body", b"")
                if message.get("more_body", False):
                    return
                message = await _as_envelope(send, held["start"], held["body"], rid, scope)
            await send(message)

        async def send_wrapped(message: Message) -> None:
            if not (cut["off"] or cut["slow"]):  # else the 413/408 below replaces the app's answer
                await emit(message)

        too_large = f"request body over the limit of {limit} bytes"
        try:
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                await _error(emit, status, rid, 413, "payload_too_large", too_large)
                return
            counted = _counting(receive, limit, cut, self.body_timeout)
            await self.app(scope, counted, send_wrapped)
        except Exception:
            if not (cut["off"] or cut["slow"]):
                logger.exception("request %s failed", rid)
                await _error(emit, status, rid, 500, "internal_error",
                             f"internal error; see the server log for request {rid}")  # fmt: skip
        finally:
            if cut["slow"]:
                await _error(emit, status, rid, 408, "request_timeout",
                             f"the request body stalled for over {self.body_timeout:g} s")  # fmt: skip
            elif cut["off"]:
                await _error(emit, status, rid, 413, "payload_too_large", too_large)
            _log(scope, rid, status["code"], time.perf_counter() - started)


def _is_page(headers: Any) -> bool:
    """The web app's "page not found" (an HTML page a browser asked for) is left as it is."""
    return any(
        k.lower() == b"content-type" and v.lower().startswith(b"text/html") for k, v in headers
    )


def _is_json(headers: Any) -> bool:
    return any(
        k.lower() == b"content-type" and v.lower().startswith(b"application/json")
        for k, v in headers
    )


async def _as_envelope(send: Send, start: Message, text: bytes, rid: str, scope: Scope) -> Message:
    """Send the start of an error response that some layer wrote as plain text, as the JSON
    envelope with faceprint's headers; returns its body message."""
    from faceprint.server.errors import HTTP_CODES

    code = HTTP_CODES.get(start["status"], "http_error")
    message = " ".join(text.decode("utf-8", "replace").split())[:300] or code.replace("_", " ")
    body = json.dumps({"error": {"code": code, "message": message}, "request_id": rid}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {
            "type": "http.response.start",
            "status": start["status"],
            "headers": _with_headers(headers, rid, scope),
        }
    )
    return {"type": "http.response.body", "body": body}


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _CLIENT_ID.match(text):
                return text
    return uuid.uuid4().hex[:16]


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _counting(receive: Receive, limit: int, cut: dict[str, bool], timeout: float = 30.0) -> Receive:
    """``receive`` that ends the body with a disconnect once more than ``limit`` bytes came
    (``cut["off"]``: the middleware answers 413) or when no chunk came for ``timeout`` seconds
    while the body was incomplete (``cut["slow"]``: 408). After the body, ``receive`` is passed
    through untimed (a streaming response waits on it for the client's disconnect)."""
    seen = 0
    done = False

    async def wrapped() -> Message:
        nonlocal seen, done
        if cut["off"] or cut["slow"]:
            return {"type": "http.disconnect"}
        if done:
            return await receive()
        message: Message | None = None
        with anyio.move_on_after(timeout):
            message = await receive()
        if message is None:
            cut["slow"] = True
            return {"type": "http.disconnect"}
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            done = not message.get("more_body", False)
            if seen > limit:
                cut["off"] = True
                return {"type": "http.disconnect"}
        return message

    return wrapped


def _with_headers(headers: Any, rid: str, scope: Scope) -> list[tuple[bytes, bytes]]:
    out = [(k, v) for k, v in headers if k.lower() != b"x-request-id"]
    present = {k.lower() for k, _ in out}
    out.append((b"x-request-id", rid.encode()))
    for name, value in SECURITY_HEADERS.items():
        if name.lower().encode() not in present:
            out.append((name.encode(), value.encode()))
    if scope["path"].startswith("/v1/") and b"cache-control" not in present:
        out.append((b"cache-control", b"no-store"))
    return out


async def _error(
    send: Send, status: dict[str, int], rid: str, code: int, name: str, message: str
) -> None:
    if status["code"]:  # the response has started: nothing more can be said
        return
    body = json.dumps({"error": {"code": name, "message": message}, "request_id": rid}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if code in (408, 413):
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _route_template(scope: Scope) -> str:
    """The matched route's template (``/v1/people/{name}``: no names or ids in the log), or
    ``unmatched``."""
    template = getattr(scope.get("route"), "path", None)
    if not template:
        return "unmatched"
    if scope["path"].startswith("/v1/") and not template.startswith("/v1"):
        return "/v1" + template  # routers included under the /v1 prefix keep their own path
    return str(template)


def _log(scope: Scope, rid: str, status: int, seconds: float) -> None:
    path = _route_template(scope)
    state = scope.get("state", {})
    access_log.info(
        "%s",
        json.dumps(
            {
                "request_id": rid,
                "method": scope.get("method"),
                "route": path,
                "status": status,
                "ms": round(seconds * 1000, 1),
                "key": state.get("key_name", ""),
            }
        ),
    )
