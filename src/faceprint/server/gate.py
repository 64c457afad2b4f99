"""The gate every request passes before the application reads a byte of its body.

A pure ASGI middleware that decides from the request line and headers alone:

* **Host** (DNS rebinding): the ``Host`` header must name the server (see
  :func:`allowed_hosts`), else 421-style refusal (400 ``bad_host``).
* **Origin** (cross-site requests): a state-changing request (``POST``, ``PUT``, ``PATCH``,
  ``DELETE``) from a browser must come from the server's own origin or a configured CORS origin;
  a foreign or ``null`` Origin is refused (403 ``bad_origin``).
* **Key and role**: the route's required role is read from its dependencies; a missing, invalid
  or insufficient key is answered 401/403 at once, with ``Connection: close``, so an
  unauthenticated client can never make the server receive, buffer or parse a body.
* **JSON bodies** (anything not multipart or url-encoded, as FastAPI parses those as JSON) are
  capped separately from uploads: :data:`MAX_JSON_BYTES` and :data:`MAX_JSON_DEPTH`, checked in
  a worker thread before the (then small and shallow) body is handed on.

The authenticated caller is left in ``scope["state"]["caller"]`` for the route dependencies
(:func:`faceprint.server.state.require`), which add rate limiting.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from faceprint.server.config import ServerConfig, is_loopback
from faceprint.server.security import Role

if TYPE_CHECKING:
    from faceprint.server.state import ServerState

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "Caller",
    "GateMiddleware",
    "allowed_hosts",
    "json_too_deep",
]

#: largest JSON request body (every JSON body of the API is a few fields)
MAX_JSON_BYTES = 64 * 1024
#: deepest nesting of arrays/objects in a JSON request body
MAX_JSON_DEPTH = 32
#: methods that change state (an Origin check applies to them)
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FORMS = (b"multipart/form-data", b"application/x-www-form-urlencoded")
_URL_KEY_PARAMS = ("key", "api_key", "apikey", "token", "access_token")


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key's name ("" without keys), its role, and the rate-limit client."""

    key_name: str
    role: Role
    client: str


class Refusal(Exception):
    """A request the gate answers itself."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def allowed_hosts(config: ServerConfig) -> frozenset[str] | None:
    """Host names a request's ``Host`` header may carry (ports are not compared), or ``None``
    (no check: bound to every interface with no ``allowed_hosts`` configured)."""
    if config.allowed_hosts:
        return frozenset(h.lower() for h in config.allowed_hosts)
    host = config.host.lower().strip("[]")
    if is_loopback(host):
        return frozenset({"localhost", "127.0.0.1", "::1", host})
    try:
        if ipaddress.ip_address(host).is_unspecified:
            return None
    except ValueError:
        pass
    return frozenset({host})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value)
    return None


def _host_name(value: str) -> str:
    """``example.com`` of ``example.com:8000``, ``::1`` of ``[::1]:8000``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def json_too_deep(data: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays/objects in ``data`` nest deeper than ``limit`` (strings are skipped;
    the text need not be valid JSON)."""
    depth = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


class GateMiddleware:
    """See the module docstring. ``routes`` are the API's routes with their mount prefix
    (matched to find each request's required role)."""

    def __init__(self, app: ASGIApp, state: ServerState, routes: Iterable[tuple[str, Any]]) -> None:
        self.app = app
        self.state = state
        self.table = route_roles(routes)
        self.hosts = allowed_hosts(state.config)
        self.origins = frozenset(state.config.cors_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check_host(scope)
            if scope["method"] != "OPTIONS":  # CORS preflights pass to the CORS middleware
                self._check_origin(scope)
                scope.setdefault("state", {})["caller"] = self._caller(scope)
            receive = await self._json_body(scope, receive)
        except Refusal as refusal:
            await _refuse(scope, send, refusal)
            return
        await self.app(scope, receive, send)

    # --- Host and Origin ----------------------------------------------------------------------
    def _check_host(self, scope: Scope) -> None:
        if self.hosts is None:
            return
        raw = _header(scope, b"host")
        name = _host_name(raw.decode("latin-1")) if raw else ""
        if name not in self.hosts:
            raise Refusal(
                400,
                "bad_host",
                "the Host header does not name this server (DNS rebinding guard); "
                "add the name with --allowed-host",
            )

    def _check_origin(self, scope: Scope) -> None:
        raw = _header(scope, b"origin")
        if scope["method"] not in UNSAFE or raw is None:
            return  # not a change, or not sent by a browser
        origin = raw.decode("latin-1").strip()
        if origin in self.origins or self._same_origin(scope, origin):
            return
        raise Refusal(
            403,
            "bad_origin",
            f"requests that change data are refused from origin {origin[:100]!r} "
            "(allow a web app's origin with --cors-origin)",
        )

    def _same_origin(self, scope: Scope, origin: str) -> bool:
        parts = urlsplit(origin)
        host = _header(scope, b"host")
        if parts.scheme not in ("http", "https") or not parts.netloc or host is None:
            return False
        return parts.netloc.lower() == host.decode("latin-1").strip().lower()

    # --- key and role -------------------------------------------------------------------------
    def _role(self, scope: Scope) -> Role | None:
        """The role the matched route needs (``None``: public or unmatched)."""
        path, method = scope["path"], scope["method"]
        for pattern, methods, role in self.table:
            if method in methods and pattern.match(path):
                return role
        return None

    def _caller(self, scope: Scope) -> Caller | None:
        role = self._role(scope)
        client = scope.get("client")
        address = client[0] if client else "unknown"
        if not self.state.auth_required:
            return Caller("", "admin", f"addr:{address}")
        if role is None:
            return None
        caller = self._authenticate(scope)
        if role == "admin" and caller.role != "admin":
            raise Refusal(
                403,
                "forbidden",
                f"key {caller.key_name!r} has role {caller.role!r}; this needs an admin key",
            )
        return caller

    def _authenticate(self, scope: Scope) -> Caller:
        raw = _header(scope, b"authorization")
        scheme, _, token = (raw or b"").decode("latin-1").partition(" ")
        if raw is None or scheme.lower() != "bearer" or not token.strip():
            query = scope.get("query_string", b"").decode("latin-1")
            if any(f"{p}=" in query for p in _URL_KEY_PARAMS):
                raise Refusal(
                    401,
                    "unauthorized",
                    "API keys are never accepted in a URL; send `Authorization: Bearer <key>`",
                )
            raise Refusal(
                401,
                "unauthorized",
                "an API key is needed: send `Authorization: Bearer <key>`",
                {"WWW-Authenticate": "Bearer"},
            )
        found = self.state.keys.authenticate(token.strip())
        if found is None:
            raise Refusal(
                401,
                "unauthorized",
                "the API key is not valid (unknown or revoked)",
                {"WWW-Authenticate": "Bearer"},
            )
        scope.setdefault("state", {})["key_name"] = found.name
        return Caller(found.name, found.role, f"key:{found.name}")

    # --- JSON bodies --------------------------------------------------------------------------
    async def _json_body(self, scope: Scope, receive: Receive) -> Receive:
        if scope["method"] in ("GET", "HEAD", "OPTIONS") or _is_form(scope):
            return receive
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > MAX_JSON_BYTES:
            raise _json_too_large()
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return _replay(b"", disconnect=True)
            body += message.get("body", b"")
            if len(body) > MAX_JSON_BYTES:
                raise _json_too_large()
            if not message.get("more_body", False):
                break
        data = bytes(body)
        if await anyio.to_thread.run_sync(json_too_deep, data):
            raise Refusal(
                400,
                "invalid_request",
                f"JSON body nests deeper than {MAX_JSON_DEPTH} levels",
            )
        return _replay(data)


def route_roles(
    routes: Iterable[tuple[str, Any]],
) -> list[tuple[re.Pattern[str], frozenset[str], Role | None]]:
    """(path pattern, methods, role) of each route mounted under its prefix."""
    table = []
    for prefix, route in routes:
        pattern = re.compile("^" + re.escape(prefix) + route.path_regex.pattern.lstrip("^"))
        table.append((pattern, frozenset(route.methods or ()), _route_role(route)))
    return table


def _route_role(route: Any) -> Role | None:
    dependant = getattr(route, "dependant", None)
    stack = list(getattr(dependant, "dependencies", []))
    while stack:
        dep = stack.pop()
        role = getattr(dep.call, "faceprint_role", None)
        if role is not None:
            return role
        stack.extend(dep.dependencies)
    return None


def _is_form(scope: Scope) -> bool:
    kind = (_header(scope, b"content-type") or b"").lower().lstrip()
    return kind.startswith(_FORMS)


def _json_too_large() -> Refusal:
    return Refusal(
        413,
        "payload_too_large",
        f"JSON request body over the limit of {MAX_JSON_BYTES} bytes",
    )


def _replay(data: bytes, *, disconnect: bool = False) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent or disconnect:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": data, "more_body": False}

    return receive


async def _refuse(scope: Scope, send: Send, refusal: Refusal) -> None:
    rid = scope.get("state", {}).get("request_id", "")
    body = json.dumps(
        {"error": {"code": refusal.code, "message": refusal.message}, "request_id": rid}
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the body (if any) is never read
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in refusal.headers.items()]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
