"""The faceprint web app: static pages served by ``faceprint serve`` from the same process.

Build-free: one ``index.html`` and ES modules under ``static/`` (no framework, no CDN, no inline
script or style, so it runs under a strict ``Content-Security-Policy``). Every page is the same
document; ``static/js/app.js`` routes on ``location.pathname`` and talks to the JSON API under
``/v1`` (the API key stays in page memory only).
"""

from __future__ import annotations

import inspect
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

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
    _page_for_unknown_paths(app, index)


def _page_for_unknown_paths(app: FastAPI, index: Path) -> None:
    """A browser that asks for a path nobody serves gets the app with status 404 (it shows
    "page not found" with links); API clients and every other status keep the JSON envelope."""
    fallback = app.exception_handlers.get(StarletteHTTPException)

    async def not_found(request: Request, exc: Exception) -> Response:
        path = request.url.path
        if (
            isinstance(exc, StarletteHTTPException)
            and exc.status_code == 404
            and request.method == "GET"
            and not path.startswith(("/v1/", "/static/"))
            and "text/html" in request.headers.get("accept", "")
        ):
            return FileResponse(
                index, status_code=404, media_type="text/html; charset=utf-8", headers=_NO_CACHE
            )
        if fallback is None:
            raise exc
        answer = fallback(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(StarletteHTTPException, not_found)
