"""One shape per result: for every result dataclass, what the JSON helper writes validates against
the schema derived from the same dataclass (the one ``docs/openapi.json`` holds for responses),
and no type writes its JSON by hand."""

from __future__ import annotations

import dataclasses
import importlib
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import numpy as np
import pytest
from fastapi.routing import APIRoute

from faceprint._json import JsonResult, json_model, to_json

pytestmark = pytest.mark.core

#: every module that declares result types (importing them registers the subclasses)
MODULES = (
    "faceprint.types",
    "faceprint.gallery.types",
    "faceprint.gallery.migrate",
    "faceprint.evaluate.extract",
    "faceprint.evaluate.calibrate",
    "faceprint.evaluate.metrics",
    "faceprint.evaluate.lfw",
    "faceprint.evaluate.identification",
    "faceprint.index.base",
    "faceprint.cluster.metrics",
    "faceprint.cluster.resemble",
    "faceprint.library.types",
    "faceprint.video.decode",
    "faceprint.video.types",
    "faceprint.video.index",
    "faceprint.bench.search",
    "faceprint.bench.synth",
    "faceprint.bench.rank1",
    "faceprint.server.schemas",
)


def _result_types() -> dict[str, type]:
    for name in MODULES:
        importlib.import_module(name)
    found: dict[str, type] = {}
    todo = list(JsonResult.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.startswith("faceprint.") and dataclasses.is_dataclass(cls):
            found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


RESULTS = _result_types()


def _sample(tp: Any, fill_optional: bool) -> Any:
    """A value of type ``tp`` (``None`` for optional values unless ``fill_optional``)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if type(None) in args and not fill_optional:
            return None
        return _sample(rest[0], fill_optional)
    if origin is Literal:
        return args[0]
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return sample(tp, fill_optional)
    if origin in (tuple, list) or (origin is not None and origin.__name__ == "Sequence"):
        items = [a for a in args if a is not Ellipsis] or [Any]
        if len(items) > 1 and Ellipsis not in args:  # a fixed-size tuple
            return tuple(_sample(a, fill_optional) for a in items)
        value = [_sample(items[0], fill_optional)]
        return tuple(value) if origin is tuple else value
    if origin is not None and origin.__name__ in ("dict", "Mapping"):
        return {"k": _sample(args[1], fill_optional) if args else 1}
    if (origin is not None and origin.__name__ == "ndarray") or tp is np.ndarray:
        return np.full(4, 0.123456, np.float32)
    simple = {int: 3, float: 0.123456789, str: "x", bool: True, bytes: b"x", Path: Path("p")}
    return simple.get(tp, {"any": [1, 2.5, "x"]})


def sample(cls: type, fill_optional: bool = True) -> Any:
    """An instance of the result type ``cls`` built from its annotations."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.init:
            values[f.name] = _sample(hints[f.name], fill_optional)
            if isinstance(values[f.name], np.ndarray):  # as many axes as its JSON has lists
                values[f.name] = np.full((2,) * _depth(f.metadata.get("json_schema")), 0.123456)
    return cls(**values)


def _depth(schema: Any) -> int:
    """How many lists deep ``schema`` is (``list[list[float]]``: 2; unknown: 1)."""
    if typing.get_origin(schema) in (Union, types.UnionType):
        return max(_depth(a) for a in typing.get_args(schema))
    if typing.get_origin(schema) is list:
        return 1 + _depth(typing.get_args(schema)[0])
    return 0 if schema is not None else 1


def test_every_result_module_is_covered() -> None:
    assert len(RESULTS) >= 60, sorted(RESULTS)


@pytest.mark.parametrize("fill_optional", [True, False], ids=["filled", "none"])
@pytest.mark.parametrize("name", sorted(RESULTS))
def test_helper_output_validates_against_the_derived_schema(name: str, fill_optional: bool) -> None:
    cls = RESULTS[name]
    data = to_json(sample(cls, fill_optional))
    model = json_model(cls)
    assert list(data) == [k for k in model.model_fields if k in data]  # same keys, same order
    assert model.model_validate(data).model_dump(exclude_unset=True) == _finite(data)


def _finite(data: Any) -> Any:
    """``data`` as pydantic dumps it back (NaN compares unequal to itself)."""
    if isinstance(data, float) and math.isnan(data):
        return None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_finite(v) for v in data]
    return data


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_no_result_writes_its_json_by_hand(name: str) -> None:
    cls = RESULTS[name]
    assert cls.to_dict is JsonResult.to_dict, f"{name} overrides to_dict"  # type: ignore[attr-defined]


def test_every_response_schema_is_derived_from_a_result() -> None:
    """The service's 2xx responses are :func:`json_model` of result dataclasses, so the
    OpenAPI document describes what the helper writes."""
    from faceprint.server.openapi import openapi_document
    from faceprint.server.routes import MODULES as ROUTES

    derived = {id(json_model(cls)) for cls in RESULTS.values()}
    checked = 0
    for name in ROUTES:
        module = importlib.import_module(f"faceprint.server.routes.{name}")
        for route in module.router.routes:
            if isinstance(route, APIRoute) and route.response_model is not None:
                assert id(route.response_model) in derived, route.path
                checked += 1
    assert checked >= 25
    schemas = openapi_document()["components"]["schemas"]
    assert {"Face", "DetectOut", "IdentifyOut", "PersonOut"} <= set(schemas)
    assert schemas["DetectOut"]["properties"]["faces"]["items"]["$ref"].endswith("/Face")
