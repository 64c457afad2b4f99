"""Clients that hold connections or lie about their address, against a live keyless server:
slow headers are cut (the connection closed), a stalled body is answered 408, and
``X-Forwarded-For`` is ignored unless the sender is a configured proxy. Every wait here ends on
what the server does (a close, an answer), bounded by a generous socket timeout."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from _server_live import LiveServer
from faceprint.server import Limits, ServerConfig

pytestmark = [pytest.mark.data, pytest.mark.slow]

LIMITS = Limits(header_timeout=1.0, body_timeout=1.0, rate_per_second=0.01, rate_burst=3)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    gallery = tmp_path_factory.mktemp("slow") / "gallery"
    server = LiveServer(ServerConfig(gallery=gallery, workers=1, limits=LIMITS)).start()
    yield server
    server.stop()


def _connect(live: LiveServer) -> socket.socket:
    host, port = live.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=60)


def _read_all(sock: socket.socket) -> bytes:
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def test_slow_headers_are_cut(live: LiveServer) -> None:
    socks = [_connect(live) for _ in range(5)]
    for sock in socks:
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: ")  # never finished
    for sock in socks:
        assert _read_all(sock) == b""  # closed by the server, nothing answered
        sock.close()
    assert httpx.get(f"{live.url}/v1/health", timeout=60).status_code == 200


def test_headers_trickled_after_a_kept_alive_request_are_cut(live: LiveServer) -> None:
    sock = _connect(live)
    sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    first = b""
    while not first.endswith(b"}"):  # the whole first answer (a JSON body)
        first += sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 200")
    sock.sendall(b"GET /v1/health HTTP/1.1\r\nHo")
    assert _read_all(sock) == b""
    sock.close()


def test_stalled_body_gets_408(live: LiveServer) -> None:
    sock = _connect(live)
    head = (
        b"POST /v1/detect HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n"
    )
    sock.sendall(head + b'--b\r\nContent-Disposition: form-data; name="image"')
    answer = _read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"request_timeout"' in answer and b"x-request-id" in answer.lower()


def test_forwarded_for_is_not_believed(live: LiveServer) -> None:
    statuses = []
    with httpx.Client(base_url=live.url, timeout=60) as http:
        for i in range(6):
            spoof = {"X-Forwarded-For": f"10.0.0.{i}"}
            statuses.append(http.get("/v1/people", headers=spoof).status_code)
    assert statuses[:3] == [200, 200, 200] and 429 in statuses[3:], statuses


def test_trusted_proxy_is_configured_explicitly(tmp_path: Path) -> None:
    from faceprint.server.run import uvicorn_config

    plain = uvicorn_config(object(), ServerConfig(gallery=tmp_path))
    proxied = uvicorn_config(
        object(), ServerConfig(gallery=tmp_path, trusted_proxies=("10.1.1.1",))
    )
    assert plain.proxy_headers is False
    assert proxied.proxy_headers is True and proxied.forwarded_allow_ips == ["10.1.1.1"]
