"""The gate in front of the API (no models loaded): keys, roles, Host and Origin are decided
from the headers before any body byte is read; JSON bodies are capped in size and depth."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faceprint.server import ServerConfig, create_app
from faceprint.server.gate import MAX_JSON_BYTES, json_too_deep
from faceprint.server.security import KeyStore


def asgi(
    app: Any,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes = b"",
) -> tuple[int, dict[str, str], dict[str, Any], int]:
    """(status, headers, JSON body, number of times the app called ``receive``)."""
    calls = 0
    out: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
            out["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
        else:
            out["body"] += message.get("body", b"")

    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "headers": raw, "client": ("127.0.0.1", 5555), "server": ("127.0.0.1", 8000),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    data = json.loads(out["body"]) if out["body"].startswith(b"{") else {}
    return out["status"], out["headers"], data, calls


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[tuple[Any, str, str]]:
    gallery = tmp_path / "g"
    store = KeyStore(gallery)
    admin, read = store.add("ops", "admin"), store.add("viewer", "read")
    app = create_app(ServerConfig(gallery=gallery))
    yield app, admin, read
    app.state.faceprint.gallery.close()


@pytest.fixture
def keyless(tmp_path: Path) -> Iterator[Any]:
    app = create_app(ServerConfig(gallery=tmp_path / "g", port=8102))
    yield app
    app.state.faceprint.gallery.close()


HOST = {"Host": "127.0.0.1:8000"}
BIG_JSON = b"[" + b"[]," * 1000 + b"[]]"


@pytest.mark.parametrize(
    ("method", "path", "ctype"),
    [("PATCH", "/v1/people/1", "application/json"), ("POST", "/v1/people", "multipart/form-data; boundary=b"),
     ("POST", "/v1/identify", "multipart/form-data; boundary=b"), ("POST", "/v1/gallery/import", "multipart/form-data; boundary=b"),
     ("DELETE", "/v1/people/1", "application/json"), ("POST", "/v1/videos", "multipart/form-data; boundary=b")],
)  # fmt: skip
def test_no_key_is_refused_before_the_body_is_read(keyed, method, path, ctype) -> None:
    app, _admin, _read = keyed
    status, headers, data, calls = asgi(
        app, method, path, {**HOST, "Content-Type": ctype, "Content-Length": str(len(BIG_JSON))},
        BIG_JSON,
    )  # fmt: skip
    assert status == 401 and data["error"]["code"] == "unauthorized"
    assert calls == 0, "the body was read before the key was checked"
    assert headers["connection"] == "close" and headers["x-request-id"]


def test_bad_key_and_read_role_are_refused_before_the_body(keyed) -> None:
    app, _admin, read = keyed
    json_headers = {**HOST, "Content-Type": "application/json"}
    bad = asgi(
        app, "PATCH", "/v1/people/1", {**json_headers, "Authorization": "Bearer fp_x"}, b"{}"
    )
    assert bad[0] == 401 and bad[3] == 0
    reader = {**json_headers, "Authorization": f"Bearer {read}"}
    assert asgi(app, "PATCH", "/v1/people/1", reader, b"{}")[0::3] == (403, 0)
    assert asgi(app, "GET", "/v1/health", HOST)[0] == 200  # public


def test_json_bodies_are_capped_in_size_and_depth(keyed) -> None:
    app, admin, _read = keyed
    headers = {**HOST, "Content-Type": "application/json", "Authorization": f"Bearer {admin}"}
    big = b'{"name": "' + b"a" * MAX_JSON_BYTES + b'"}'
    status, _h, data, _calls = asgi(app, "PATCH", "/v1/people/1", headers, big)
    assert status == 413 and "JSON request body" in data["error"]["message"]
    deep = b'{"name": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    status, _h, data, _calls = asgi(app, "PATCH", "/v1/people/1", headers, deep)
    assert status == 400 and "nests deeper" in data["error"]["message"]
    no_type = {k: v for k, v in headers.items() if k != "Content-Type"}  # parsed as JSON too
    assert asgi(app, "PATCH", "/v1/people/1", no_type, big)[0] == 413


@pytest.mark.parametrize(
    ("text", "deep"),
    [(b"[]", False), (b"[" * 33 + b"]" * 33, True), (b"[" * 32 + b"]" * 32, False),
     (b'["' + b"[" * 100 + b'"]', False), (b'["\\"' + b"{" * 40 + b'"]', False), (b'{"a":' * 40, True)],
)  # fmt: skip
def test_json_depth_skips_strings(text: bytes, deep: bool) -> None:
    assert json_too_deep(text) is deep


@pytest.mark.parametrize(
    ("host", "ok"),
    [("127.0.0.1:8102", True), ("localhost:8102", True), ("LOCALHOST:8102", True), ("[::1]:8102", True),
     ("127.0.0.1", True), ("attacker.example:8102", False), ("127.0.0.1.attacker.example:8102", False),
     ("localhost.attacker.example", False), ("0x7f.0.0.1:8102", False), ("127.1:8102", False),
     ("", False), ("[::ffff:7f00:1]:8102", False), ("localhost.:8102", False)],
)  # fmt: skip
def test_keyless_server_checks_host(keyless, host: str, ok: bool) -> None:
    headers = {"Host": host} if host else {}
    status, _h, data, calls = asgi(keyless, "GET", "/v1/people", headers)
    if ok:
        assert status == 200
    else:
        assert asgi(keyless, "GET", "/v1/gallery/export", headers)[0] == 400
        assert (status, data["error"]["code"], calls) == (400, "bad_host", 0)
        assert asgi(keyless, "DELETE", "/v1/people/1", headers)[0] == 400


@pytest.mark.parametrize(
    ("origin", "ok"),
    [(None, True), ("http://127.0.0.1:8102", True), ("https://evil.example", False), ("null", False),
     ("http://127.0.0.1:9999", False), ("http://localhost:8102.evil.example", False), ("file://", False)],
)  # fmt: skip
def test_keyless_server_refuses_cross_site_changes(keyless, origin: str | None, ok: bool) -> None:
    headers = {"Host": "127.0.0.1:8102", "Content-Type": "multipart/form-data; boundary=b"}
    if origin is not None:
        headers["Origin"] = origin
    for method, path in [("POST", "/v1/people"), ("POST", "/v1/library/scan"),
                         ("POST", "/v1/gallery/import"), ("DELETE", "/v1/people/1")]:  # fmt: skip
        status, _h, data, calls = asgi(keyless, method, path, headers, b"--b--\r\n")
        if ok:
            assert status != 403, (method, path)
        else:
            assert (status, data["error"]["code"], calls) == (403, "bad_origin", 0), (method, path)
    read = asgi(keyless, "GET", "/v1/people", {**headers, "Origin": origin or "null"})
    assert read[0] == 200  # a read is not a change (and without CORS a page cannot read it)


def test_configured_hosts_and_origins(tmp_path: Path) -> None:
    config = ServerConfig(gallery=tmp_path / "g", host="0.0.0.0", insecure_no_auth=True,
                          allowed_hosts=("faces.example",), cors_origins=("https://app.example",))  # fmt: skip
    app = create_app(config)
    try:
        assert asgi(app, "GET", "/v1/people", {"Host": "faces.example:443"})[0] == 200
        assert asgi(app, "GET", "/v1/people", {"Host": "10.0.0.5:8000"})[0] == 400
        change = {"Host": "faces.example", "Origin": "https://app.example"}
        assert asgi(app, "DELETE", "/v1/people/1", change)[0] == 404  # past the gate
        evil = {**change, "Origin": "https://evil.example"}
        assert asgi(app, "DELETE", "/v1/people/1", evil)[0] == 403
    finally:
        app.state.faceprint.gallery.close()
