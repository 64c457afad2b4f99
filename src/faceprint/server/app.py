"""The application factory: ``create_app(ServerConfig) -> FastAPI``.

Configuration is validated here, when the app is built (a bad gallery, pack, binding or limit
raises one line before anything listens); the models load once per process in the lifespan
(:class:`faceprint.batch.AnalyzerPool`) and are released at shutdown, after uvicorn has let the
requests in flight finish.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

try:
    from fastapi import FastAPI
    from fastapi.middleware.cors import CORSMiddleware
except ImportError as _exc:
    from faceprint._optional import missing

    raise missing("fastapi", feature="the HTTP service") from _exc

from faceprint import __version__
from faceprint.errors import InvalidArgumentError
from faceprint.gallery import Gallery
from faceprint.packs import DEFAULT_PACK, get_pack
from faceprint.pipeline import EmbeddingSpace
from faceprint.server.config import ServerConfig, is_loopback
from faceprint.server.errors import install_error_handlers
from faceprint.server.gate import GateMiddleware
from faceprint.server.middleware import RequestMiddleware
from faceprint.server.routes import include_routes
from faceprint.server.security import KeyStore
from faceprint.server.state import ServerState

__all__ = ["create_app", "open_gallery"]

logger = logging.getLogger(__name__)

DESCRIPTION = """Offline face recognition over HTTP. Images are uploaded as multipart files (never
URLs or server paths). Authenticate with `Authorization: Bearer <key>` (keys from `faceprint keys
add`); errors are `{"error": {"code", "message"}, "request_id"}` with a real status code."""


def open_gallery(config: ServerConfig) -> Gallery:
    """The configured gallery, created empty (with ``config.pack``) when the directory does
    not hold one yet; a pack that differs from an existing gallery's is refused."""
    if Gallery.exists(config.gallery):
        gallery = Gallery.open(config.gallery)
        if config.pack is not None:
            try:
                wanted = EmbeddingSpace(get_pack(config.pack).name, gallery.augment)
                gallery.space.check(wanted, holder=str(config.gallery), source=config.gallery)
            except BaseException:
                gallery.close()
                raise
        return gallery
    if config.gallery.is_dir() and any(p.name != "keys.sqlite" for p in config.gallery.iterdir()):
        raise InvalidArgumentError(
            f"{config.gallery} is not empty and holds no gallery; give an empty or new directory"
        )
    return Gallery.create(config.gallery, config.pack or DEFAULT_PACK)


def _open_library(config: ServerConfig) -> Any:
    from faceprint.library import Library

    assert config.library is not None
    if not Library.exists(config.library):
        raise InvalidArgumentError(
            f"{config.library}: no photo library here; create one with `faceprint library scan ROOT --library DIR`"
        )
    return Library.open(config.library)


def _check_binding(config: ServerConfig, keys: KeyStore) -> None:
    if is_loopback(config.host) or config.insecure_no_auth or keys.configured():
        return
    raise InvalidArgumentError(
        f"no API key is configured, so binding {config.host} would serve anyone who can reach "
        f"it; add one (`faceprint keys add NAME --role admin --gallery {config.gallery}`), bind "
        "127.0.0.1, or pass --insecure-no-auth"
    )


def _body_limit(config: ServerConfig) -> Callable[[str], int]:
    limits = config.limits
    slack = 1024 * 1024  # multipart framing and form fields around the file

    def limit(path: str) -> int:
        if path.rstrip("/") == "/v1/videos":
            return limits.max_video_bytes + slack
        if path.rstrip("/") == "/v1/gallery/import":
            return limits.max_archive_bytes + slack
        return limits.max_body_bytes

    return limit


def create_app(config: ServerConfig) -> FastAPI:
    """The faceprint API for ``config`` (validated now; models load when the app starts)."""
    config.check()
    spec = get_pack(config.pack or DEFAULT_PACK)  # an unknown pack fails here, with the list
    missing = [str(p) for p in spec.files.values() if not p.exists()]
    if missing:
        raise InvalidArgumentError(
            f"pack {spec.name!r} is missing model files: {', '.join(missing)}"
        )
    keys = KeyStore(config.gallery)
    _check_binding(config, keys)
    state = ServerState(config, open_gallery(config), keys)
    if config.library is not None:
        state.library = _open_library(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.start()
        try:
            yield
        finally:
            state.stop()
            logger.info("faceprint server stopped")

    app = FastAPI(
        title="faceprint",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.faceprint = state
    install_error_handlers(app)
    routes = include_routes(app)
    app.add_middleware(GateMiddleware, state=state, routes=routes)
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(
        RequestMiddleware, body_limit=_body_limit(config), body_timeout=config.limits.body_timeout
    )
    _mount_web(app)
    return app


def _mount_web(app: FastAPI) -> None:
    """The web app's pages (``faceprint.server.web``), when that package is installed."""
    if importlib.util.find_spec("faceprint.server.web") is None:
        return
    from faceprint.server import web

    web.mount_web(app)
