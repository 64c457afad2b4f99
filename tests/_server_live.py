"""A faceprint server on 127.0.0.1 (a free port) in a background thread, for the server,
client and sample tests; and small generated inputs."""

from __future__ import annotations

import hashlib
import io
import socket
import struct
import threading
import time
import zlib
from pathlib import Path

import uvicorn
from PIL import Image

from faceprint.server import ServerConfig, create_app
from faceprint.server.run import uvicorn_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """``create_app(config)`` served by uvicorn until :meth:`stop` (graceful)."""

    def __init__(self, config: ServerConfig) -> None:
        port = free_port()
        self.config = ServerConfig(**{**vars_of(config), "port": port})
        self.app = create_app(self.config)
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn_config(self.app, self.config, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 120
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)

    @property
    def alive(self) -> bool:
        return self.thread.is_alive() and self.server.started


def vars_of(config: ServerConfig) -> dict[str, object]:
    return {name: getattr(config, name) for name in config.__dataclass_fields__}


def gallery_digest(directory: Path) -> dict[str, str]:
    """SHA-256 of every gallery file (keys and server scratch space left out)."""
    out = {}
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        if path.is_file() and not rel.startswith(("keys.sqlite", "server-data")):
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def png_bytes(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (128, 128, 128)).save(buf, "PNG")
    return buf.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` × ``height`` (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def scan_bomb(scans: int = 2000, side: int = 256) -> bytes:
    """A small progressive JPEG whose last scan is repeated ``scans`` times (a decoder CPU bomb:
    each scan makes the decoder pass over the whole image again)."""
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (90, 120, 150)).save(buf, "JPEG", progressive=True)
    data = buf.getvalue()
    last = data.rfind(b"\xff\xda")
    return data[:last] + data[last:-2] * scans + b"\xff\xd9"
