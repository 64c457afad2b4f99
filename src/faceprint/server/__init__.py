"""The HTTP service: every faceprint capability over a REST API (``faceprint serve``).

>>> from faceprint.server import ServerConfig, create_app            # doctest: +SKIP
>>> app = create_app(ServerConfig(gallery=Path("people")))           # doctest: +SKIP

See :mod:`faceprint.server.app` (the factory), :mod:`faceprint.server.security` (keys, roles,
rate limits) and :mod:`faceprint.client` (the Python client). FastAPI is imported only when
the app is built, so ``faceprint keys`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faceprint.server.app import create_app
    from faceprint.server.config import Limits, ServerConfig

__all__ = ["Limits", "ServerConfig", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from faceprint.server.app import create_app

        return create_app
    if name in ("Limits", "ServerConfig"):
        from faceprint.server import config

        return getattr(config, name)
    raise AttributeError(f"module 'faceprint.server' has no attribute {name!r}")
