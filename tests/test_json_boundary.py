"""The JSON boundary: one helper for every result dataclass."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pytest

from faceprint._json import JsonResult, to_json
from faceprint.evaluate.identification import (
    DistractorPoint,
    IdentificationResult,
    OpenSetPoint,
)
from faceprint.evaluate.metrics import KFoldResult

pytestmark = pytest.mark.core


@dataclass(frozen=True)
class _Inner(JsonResult):
    a: float
    hidden: str = field(default="x", metadata={"json": False})


@dataclass(frozen=True)
class _Outer(JsonResult):
    inner: _Inner
    items: tuple[_Inner, ...]
    array: np.ndarray
    scalar: np.float32
    mapping: dict[str, tuple[int, ...]]


def test_to_json_walks_fields_and_converts_numpy() -> None:
    outer = _Outer(_Inner(1.5), (_Inner(2.0),), np.arange(3), np.float32(0.5), {"k": (1, 2)})
    data = outer.to_dict()
    assert data == {
        "inner": {"a": 1.5},
        "items": [{"a": 2.0}],
        "array": [0, 1, 2],
        "scalar": 0.5,
        "mapping": {"k": [1, 2]},
    }
    assert json.loads(json.dumps(data)) == data  # plain JSON types only
    assert to_json((1, np.int64(2))) == [1, 2]


def test_results_keep_their_json_shape() -> None:
    kfold = KFoldResult(0.9, 0.01, 0.003, (0.9, 0.91), (0.5, 0.51))
    assert kfold.to_dict() == {
        "mean": 0.9,
        "std": 0.01,
        "standard_error": 0.003,
        "fold_accuracies": [0.9, 0.91],
        "thresholds": [0.5, 0.51],
    }
    ident = IdentificationResult(
        3,
        4,
        5,
        0.75,
        1.0,
        (OpenSetPoint(0.1, 0.9, 0.05, 0.2, True),),
        (DistractorPoint(1, 4, 0.5),),
    )
    assert ident.to_dict() == {
        "enrolled": 3,
        "mated_probes": 4,
        "non_mated_probes": 5,
        "rank1": 0.75,
        "rank5": 1.0,
        "open_set": [
            {"target_fpir": 0.1, "threshold": 0.9, "fpir": 0.05, "fnir": 0.2, "supported": True}
        ],
        "distractor_curve": [{"distractors": 1, "gallery": 4, "rank1": 0.5}],
    }
