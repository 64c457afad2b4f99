"""The route class of the API: responses are result dataclasses rendered by the one JSON helper.

A route declares ``response_model=SomeResult`` (a dataclass of :mod:`faceprint.server.schemas` or
of the library) and returns an instance; :class:`JsonRoute` documents it with
:func:`~faceprint._json.json_model` of that class and sends :func:`~faceprint._json.to_json` of
what the route returns, so the schema in ``docs/openapi.json`` and the body are the same shape.
Routes that return a ``Response`` (files, images) are left as they are.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.utils import get_typed_return_annotation
from fastapi.routing import APIRoute

from faceprint._json import json_model, to_json

__all__ = ["JsonRoute"]


def _is_result(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _rendered(value: Any) -> Any:
    return to_json(value) if dataclasses.is_dataclass(value) else value


def _json_endpoint(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint`` whose dataclass results become JSON data (same signature and docs)."""
    if getattr(endpoint, "__faceprint_json__", False):
        return endpoint
    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            return _rendered(await endpoint(*args, **kwargs))

    else:

        @functools.wraps(endpoint)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            return _rendered(endpoint(*args, **kwargs))

    wrapped.__faceprint_json__ = True  # type: ignore[attr-defined]
    return wrapped


class JsonRoute(APIRoute):
    """An ``APIRoute`` whose dataclass response model is replaced by its derived pydantic model
    and whose dataclass results are rendered by :func:`~faceprint._json.to_json`."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        model = kwargs.get("response_model")
        if model is None or isinstance(model, DefaultPlaceholder):
            model = get_typed_return_annotation(endpoint)
        if _is_result(model):
            kwargs["response_model"] = json_model(model)
        super().__init__(path, _json_endpoint(endpoint), **kwargs)
