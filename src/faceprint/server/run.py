"""How ``faceprint serve`` runs the app on uvicorn: one place for the settings that are part of
the service's security (used by the CLI, the tests and the benchmarks alike).

* **Slow headers** (slow-loris): uvicorn's HTTP/1.1 protocol has no header timeout, so a client
  can hold a connection by sending one header byte at a time. :class:`GuardedH11Protocol` closes
  a connection whose request line and headers are not complete within
  :attr:`~faceprint.server.config.Limits.header_timeout` seconds (of the connection opening, or
  of the previous response). Slow *bodies* are cut by the request middleware
  (:attr:`~faceprint.server.config.Limits.body_timeout` between chunks: 408).
* **Proxy headers**: ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are believed only from the
  addresses in :attr:`~faceprint.server.config.ServerConfig.trusted_proxies` (uvicorn's default
  trusts them from 127.0.0.1, which let any local client pick its own rate-limit address).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from faceprint.server.config import ServerConfig

__all__ = ["GuardedH11Protocol", "uvicorn_config"]


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's line and headers."""

    header_timeout: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            if self._header_timer is None:
                self._arm()  # a request has begun (or is awaited) and its headers are incomplete
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()  # nothing was answered: the headers never came


def uvicorn_config(app: Any, config: ServerConfig, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration of ``faceprint serve`` for ``app`` built from ``config``."""
    protocol = type(
        "FaceprintH11Protocol",
        (GuardedH11Protocol,),
        {"header_timeout": config.limits.header_timeout},
    )
    settings: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "http": protocol,
        "access_log": False,  # faceprint.server.access logs each request (no bodies, no keys)
        "timeout_graceful_shutdown": 30,
        "timeout_keep_alive": 30,  # longer than clients' idle expiry (httpx: 5 s): no reuse race
        "server_header": False,
        "proxy_headers": bool(config.trusted_proxies),
        "forwarded_allow_ips": list(config.trusted_proxies) or None,
        "h11_max_incomplete_event_size": 16 * 1024,
    }
    settings.update(overrides)
    return uvicorn.Config(app, **settings)
