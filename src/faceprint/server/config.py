"""Configuration of the HTTP service, validated when the app is built.

:class:`ServerConfig` holds everything ``faceprint serve`` can set; :func:`validate` checks it
(gallery, pack, binding without keys, limits) and raises one :class:`InvalidArgumentError` line
that names the fix, so a bad configuration fails at start, never on the first request.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from faceprint.errors import InvalidArgumentError

__all__ = ["Limits", "ServerConfig", "is_loopback"]

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Bounds checked before any work is done on a request.

    Attributes:
        max_body_bytes: a whole request body (multipart included).
        max_image_bytes: one uploaded image file.
        max_pixels: width × height of one image, read from its header before decoding.
        max_files: image files in one request.
        max_top_k: ``top_k`` of identify/search.
        max_archive_bytes: an uploaded gallery export (zip).
        max_archive_expanded_bytes: the sum of the uncompressed sizes of its members.
        max_video_bytes / max_video_seconds: one uploaded video.
        rate_per_second / rate_burst: token bucket per API key (per client address without keys).
        concurrent_per_key: requests of one key in progress at once.
        header_timeout: seconds a client has to send a request's line and headers
            (slow-loris); the connection is closed after that.
        body_timeout: seconds a client may leave between two chunks of a request body
            (408 after that).
    """

    max_body_bytes: int = 64 * MiB
    max_image_bytes: int = 20 * MiB
    max_pixels: int = 40_000_000
    max_files: int = 20
    max_top_k: int = 100
    max_archive_bytes: int = 256 * MiB
    max_archive_expanded_bytes: int = 1024 * MiB
    max_video_bytes: int = 512 * MiB
    max_video_seconds: float = 1800.0
    rate_per_second: float = 50.0
    rate_burst: int = 100
    concurrent_per_key: int = 16
    header_timeout: float = 10.0
    body_timeout: float = 30.0

    def check(self) -> None:
        """Raise :class:`InvalidArgumentError` for a limit that is not positive."""
        for name, value in vars_of(self).items():
            if not value > 0:
                raise InvalidArgumentError(f"limit {name} must be positive, got {value}")
        if self.max_image_bytes > self.max_body_bytes:
            raise InvalidArgumentError("max_image_bytes cannot exceed max_body_bytes")


def vars_of(limits: Limits) -> dict[str, float]:
    """The limits as a name → value mapping."""
    return {name: getattr(limits, name) for name in limits.__dataclass_fields__}


@dataclass(frozen=True)
class ServerConfig:
    """What ``faceprint serve`` runs.

    Attributes:
        gallery: gallery directory (created, empty, with ``pack`` when absent); the API keys
            live in ``gallery/keys.sqlite``.
        library: photo-library directory, or ``None`` (library endpoints answer 404).
        host / port: where uvicorn listens (checked here: without keys, loopback only).
        pack: model pack of a new gallery (an existing gallery's pack is used as it is).
        workers: analyzers loaded at start; also the number of inference calls run at once.
        data_dir: server scratch space (uploaded videos, job results); default
            ``gallery/server-data``.
        cors_origins: origins allowed by CORS; empty (the default) sends no CORS headers.
        insecure_no_auth: allow binding a non-loopback address with no API key configured.
        allowed_hosts: host names a request's ``Host`` header may carry (DNS-rebinding guard);
            empty: the loopback names when bound to loopback, the bound address otherwise,
            no check when bound to every interface (0.0.0.0 / ::).
        trusted_proxies: addresses of reverse proxies whose ``X-Forwarded-For`` /
            ``X-Forwarded-Proto`` are believed; empty (the default): those headers are ignored.
        limits: see :class:`Limits`.
    """

    gallery: Path
    library: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    pack: str | None = None
    workers: int = 2
    data_dir: Path | None = None
    cors_origins: tuple[str, ...] = ()
    insecure_no_auth: bool = False
    allowed_hosts: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)

    @property
    def scratch(self) -> Path:
        """The server's data directory."""
        return self.data_dir if self.data_dir is not None else self.gallery / "server-data"

    def check(self) -> None:
        """Validate what can be validated without loading models (raises one line)."""
        if not 1 <= self.workers <= 64:
            raise InvalidArgumentError(f"workers must be between 1 and 64, got {self.workers}")
        if not 0 <= self.port <= 65535:
            raise InvalidArgumentError(f"port must be between 0 and 65535, got {self.port}")
        if self.gallery.exists() and not self.gallery.is_dir():
            raise InvalidArgumentError(f"{self.gallery}: not a directory (--gallery)")
        if self.library is not None and not self.library.is_dir():
            raise InvalidArgumentError(f"{self.library}: no such photo library (--library)")
        for origin in self.cors_origins:
            if origin == "*" or not origin.startswith(("http://", "https://")):
                raise InvalidArgumentError(
                    f"CORS origin {origin!r} must be an explicit http(s)://host[:port] origin "
                    "(a wildcard is refused)"
                )
        self.limits.check()


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
