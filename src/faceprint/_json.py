"""The JSON boundary: one helper turning any result dataclass into JSON-ready values.

Results are frozen dataclasses; :func:`to_json` walks their fields (``dataclasses.fields``) and
their values recursively: nested results become objects, tuples and lists become lists, NumPy
scalars and arrays become Python numbers and lists, mappings keep their keys (as strings).
What a type's JSON looks like beyond that is declared on the type, never written out per type:

* per field, with ``field(metadata=json_options(...))`` (:func:`json_options`):
  ``json=False`` leaves the field out; ``name`` renames its key; ``convert`` maps the value
  first (e.g. a path to printable text); ``digits`` rounds its floats (also inside lists);
  ``omit_none`` leaves the key out while the value is ``None``; ``schema`` is the JSON type
  where ``convert`` changes it and ``description`` documents the key (for :func:`json_model`);
* per class, with two optional class variables: ``json_computed``, a tuple of
  :func:`computed` values (properties or methods of the result, appended after the fields), and
  ``json_order``, the output's key order where it differs from the declaration order.

:class:`JsonResult` gives a dataclass the ``to_dict()`` every result type offers, from that one
helper; :func:`json_model` derives the pydantic model of the same JSON (the HTTP service's
response schemas and ``docs/openapi.json`` come from it, so there is one shape per result).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union

import numpy as np

__all__ = ["Computed", "JsonResult", "computed", "json_model", "json_options", "to_json"]


@dataclass(frozen=True)
class Computed:
    """A JSON value computed from the result (see :func:`computed`)."""

    attr: str
    name: str
    digits: int | None = None
    convert: Callable[[Any], Any] | None = None
    schema: Any = None


def computed(
    attr: str,
    *,
    name: str | None = None,
    digits: int | None = None,
    convert: Callable[[Any], Any] | None = None,
    schema: Any = None,
) -> Computed:
    """The JSON value ``name`` (default ``attr``) taken from the property or no-argument method
    ``attr``; ``schema`` is its JSON type (default: the property's return annotation)."""
    return Computed(attr, name or attr, digits, convert, schema)


def json_options(
    *,
    name: str | None = None,
    digits: int | None = None,
    omit_none: bool = False,
    convert: Callable[[Any], Any] | None = None,
    schema: Any = None,
    description: str | None = None,
    json: bool = True,
) -> dict[str, Any]:
    """A field's JSON options, as ``dataclasses.field(metadata=json_options(...))`` (see the
    module docstring)."""
    options = {"json_name": name, "json_digits": digits, "json_convert": convert}
    options |= {"json_schema": schema, "json_omit_none": omit_none or None}
    options |= {"json_description": description}
    metadata = {k: v for k, v in options.items() if v is not None}
    return metadata if json else {**metadata, "json": False}


def _rounded(value: Any, digits: int) -> Any:
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, list):
        return [_rounded(v, digits) for v in value]
    return value


def _entry(value: Any, convert: Callable[[Any], Any] | None, digits: int | None) -> Any:
    data = to_json(value if convert is None else convert(value))
    return data if digits is None else _rounded(data, digits)


def _dataclass_json(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(value):
        meta = f.metadata
        if not meta.get("json", True):
            continue
        raw = getattr(value, f.name)
        if raw is None and meta.get("json_omit_none"):
            continue
        out[meta.get("json_name", f.name)] = _entry(
            raw, meta.get("json_convert"), meta.get("json_digits")
        )
    for c in getattr(value, "json_computed", ()):
        raw = getattr(value, c.attr)
        out[c.name] = _entry(raw() if callable(raw) else raw, c.convert, c.digits)
    order: Sequence[str] | None = getattr(value, "json_order", None)
    return out if order is None else {k: out[k] for k in order if k in out}


def to_json(value: Any) -> Any:
    """``value`` as JSON-ready Python data (see the module docstring)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _dataclass_json(value)
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


class JsonResult:
    """Mixin of result dataclasses: ``to_dict()`` is :func:`to_json` of the result."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data (see :mod:`faceprint._json`)."""
        data: dict[str, Any] = to_json(self)
        return data


# --- the schema of the same JSON ------------------------------------------------------------
def _json_type(tp: Any) -> Any:
    """The type of ``tp``'s JSON (dataclasses become their :func:`json_model`)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is None or tp is type(None):
        return tp
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return json_model(tp)
    if isinstance(tp, type) and issubclass(tp, (np.ndarray, np.generic)):
        return Any
    if origin in (Union, types.UnionType):
        return functools.reduce(lambda a, b: a | b, [_json_type(a) for a in args])
    if origin is Literal:
        return tp
    if origin in (tuple, list, Sequence, set, frozenset) or (
        isinstance(origin, type) and issubclass(origin, Sequence) and origin is not str
    ):
        items = [a for a in args if a is not Ellipsis]
        same = len(set(items)) == 1
        return list[_json_type(items[0]) if items and same else Any]  # type: ignore[misc]
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        return dict[str, _json_type(args[1]) if len(args) == 2 else Any]  # type: ignore[misc]
    if origin is not None and isinstance(origin, type) and issubclass(origin, np.ndarray):
        return list[Any]
    if tp is bytes:
        return str
    return tp


def _not_none(tp: Any) -> Any:
    """``tp`` without ``None`` (``int | None`` → ``int``)."""
    if typing.get_origin(tp) not in (Union, types.UnionType):
        return tp
    rest = [a for a in typing.get_args(tp) if a is not type(None)]
    return functools.reduce(lambda a, b: a | b, rest)


def _hints(obj: Any) -> dict[str, Any]:
    return typing.get_type_hints(obj, include_extras=False)


def json_model(cls: type[Any]) -> Any:
    """The pydantic model of ``to_json(instance of cls)``: one field per JSON key, typed from
    the dataclass's annotations (``schema`` where a converter changes the type), required unless
    the key may be left out, in the same order. Cached: one model per result type."""
    model = _MODELS.get(cls)
    return _MODELS.setdefault(cls, _build_model(cls)) if model is None else model


#: the derived models, one per result type
_MODELS: dict[type[Any], Any] = {}


def _build_model(cls: type[Any]) -> Any:
    from pydantic import ConfigDict, Field, create_model

    hints = _hints(cls)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if not meta.get("json", True):
            continue
        tp = meta.get("json_schema") or _json_type(hints[f.name])
        if meta.get("json_omit_none"):  # the key is left out, never null
            tp = _not_none(tp)
        default = None if meta.get("json_omit_none") else ...
        info = Field(default, description=meta.get("json_description"))
        fields[meta.get("json_name", f.name)] = (tp, info)
    for c in getattr(cls, "json_computed", ()):
        attr = getattr(cls, c.attr)
        fn = attr.fget if isinstance(attr, property) else attr
        fields[c.name] = (c.schema or _json_type(_hints(fn)["return"]), ...)
    order: Sequence[str] | None = getattr(cls, "json_order", None)
    if order is not None:
        fields = {k: fields[k] for k in order if k in fields}
    doc = (cls.__doc__ or "").strip().split("\n\n")[0]
    if doc.startswith(f"{cls.__name__}("):  # the signature dataclasses writes, not a docstring
        doc = ""
    config = ConfigDict(title=cls.__name__, extra="forbid")
    model = create_model(
        cls.__name__, __config__=config, __doc__=doc or None, __module__=cls.__module__, **fields
    )
    return model
