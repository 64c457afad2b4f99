"""The faceprint web app: static pages served by ``faceprint serve`` from the same process.

Build-free: one ``index.html`` and ES modules under ``static/`` (no framework, no CDN, no inline
script or style, so it runs under a strict ``Content-Security-Policy``). Every page is the same
document; ``static/js/app.js`` routes on ``location.pathname`` and talks to the JSON API under
``/v1`` (the API key stays in page memory only).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["PAGES", "mount_web"]

#: URL paths of the pages (all serve ``index.html``; the script picks the page).
PAGES: tuple[str, ...] = (
    "/",
    "/lookalike",
    "/verify",
    "/identify",
    "/family",
    "/people",
    "/library",
    "/video",
)

_NO_CACHE = {"Cache-Control": "no-cache"}


def _web_dir() -> Path:
    return Path(str(files(__name__)))


def mount_web(app: FastAPI) -> None:
    """Serve the pages at :data:`PAGES` and their assets at ``/static/`` on ``app``."""
    root = _web_dir()
    index = root / "index.html"

    async def page() -> FileResponse:
        return FileResponse(index, media_type="text/html; charset=utf-8", headers=_NO_CACHE)

    for path in PAGES:
        app.add_api_route(path, page, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=root / "static"), name="static")
