"""The API routes, one module per area; :func:`include_routes` mounts them under ``/v1``."""

from __future__ import annotations

import importlib
import logging
from types import ModuleType
from typing import Any

from fastapi import FastAPI

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
            app.include_router(module.router, prefix="/v1", responses=errors)
            mounted += [("/v1", route) for route in module.router.routes]
    return mounted
