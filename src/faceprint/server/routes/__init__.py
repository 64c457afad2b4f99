"""The API routes, one module per area; :func:`include_routes` mounts them under ``/v1``."""

from __future__ import annotations

import importlib
import logging
from types import ModuleType
from typing import Any

from fastapi import Depends, FastAPI, Request

from faceprint.server.errors import ApiError
from faceprint.server.schemas import ErrorOut

__all__ = ["include_routes"]

logger = logging.getLogger(__name__)

#: route modules in mounting order; "videos" needs PyAV (FFmpeg), left out when it is missing
MODULES = ("service", "analysis", "people", "gallery", "library", "jobs", "videos")


def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"faceprint.server.routes.{name}")
    except ImportError as exc:
        logger.warning("the %s endpoints are off: %s", name, exc)
        return None


#: form fields that may be repeated (several files); every other field is single-valued
MULTI_VALUED = frozenset({"images", "relatives"})


async def single_valued_fields(request: Request) -> None:
    """Refuse a form that repeats a single-valued field (``name=a&name=b``: which one wins is
    a guess, so neither does). The form is the one FastAPI parsed for the route (cached)."""
    kind = request.headers.get("content-type", "").lower()
    if not kind.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        return
    form = await request.form()
    seen: set[str] = set()
    for key, _value in form.multi_items():
        if key in seen and key not in MULTI_VALUED:
            raise ApiError(
                400, "invalid_argument", f"form field {key[:40]!r} is given more than once"
            )
        seen.add(key)


def include_routes(app: FastAPI) -> list[tuple[str, Any]]:
    """Mount every router of the API; returns (prefix, route) of each route mounted."""
    errors: dict[int | str, dict[str, object]] = {
        "4XX": {"model": ErrorOut, "description": "the request was refused (see error.code)"},
        "5XX": {"model": ErrorOut, "description": "the service failed or is unavailable"},
    }
    mounted: list[tuple[str, Any]] = []
    for name in MODULES:
        module = _module(name)
        if module is not None:
            app.include_router(
                module.router,
                prefix="/v1",
                responses=errors,
                dependencies=[Depends(single_valued_fields)],
            )
            mounted += [("/v1", route) for route in module.router.routes]
    return mounted
