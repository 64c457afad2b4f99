"""The JSON boundary: one helper turning any result dataclass into JSON-ready values.

Results are frozen dataclasses; :func:`to_json` walks their fields (``dataclasses.fields``) and
their values recursively: nested results become objects, tuples and lists become lists, NumPy
scalars and arrays become Python numbers and lists, mappings keep their keys. A field declared
with ``field(metadata={"json": False})`` is left out. :class:`JsonResult` gives a dataclass the
``to_dict()`` every result type offers, from that one helper.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["JsonResult", "to_json"]


def to_json(value: Any) -> Any:
    """``value`` as JSON-ready Python data (see the module docstring)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_json(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.metadata.get("json", True)
        }
    if isinstance(value, Mapping):
        return {k: to_json(v) for k, v in value.items()}
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
        """The result as JSON-ready data (fields in declaration order)."""
        data: dict[str, Any] = to_json(self)
        return data
