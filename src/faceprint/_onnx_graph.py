"""What an ONNX graph is, read from its inputs, outputs and first nodes.

Graph inspection shared by the pack loaders (:mod:`faceprint.packs.manifest` recognises the role
of each file in a model folder) and the backends (:mod:`faceprint.embed.arcface_onnx` reads the
input layout and normalisation). It depends only on :mod:`faceprint._onnx`, so neither side
imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from faceprint._onnx import ORT_ERRORS, OnnxModel
from faceprint.align import ARCFACE_112
from faceprint.errors import ModelError, map_exceptions

__all__ = [
    "MIN_EMBEDDING_SIZE",
    "Layout",
    "OnnxRole",
    "graph_normalisation",
    "input_layout",
    "inspect_onnx",
]

#: the smallest output size taken for a face embedding (smaller: an attribute model)
MIN_EMBEDDING_SIZE = 64

Layout = Literal["nchw", "nhwc"]


@dataclass(frozen=True)
class OnnxRole:
    """What an ONNX file is, from its inputs and outputs.

    Attributes:
        role: ``"detector"``, ``"recognizer"`` or ``"other"``.
        backend: the backend that runs it (``"scrfd"``, ``"yunet"``, ``"retinaface"``,
            ``"arcface-onnx"``), empty for ``"other"``.
        dim: embedding size of a recognizer (0 otherwise).
        reason: one line saying why (for logs and errors).
    """

    role: str
    backend: str = ""
    dim: int = 0
    reason: str = ""


def inspect_onnx(path: str | Path) -> OnnxRole:
    """The role of one ``.onnx`` file (opens it in onnxruntime; raises ModelError if broken)."""
    model = OnnxModel(path, threads=1)
    outs, shape = model.outputs, model.input.shape
    n = len(outs)
    if n in (9, 15):
        return OnnxRole("detector", "scrfd", reason=f"SCRFD with keypoints ({n} outputs)")
    if n in (6, 10):
        return OnnxRole("other", reason=f"SCRFD without keypoints ({n} outputs): unusable")
    if n == 12:
        return OnnxRole("detector", "yunet", reason="YuNet (12 outputs)")
    if n == 3 and [o.shape[-1] if o.shape else None for o in outs] == [4, 2, 10]:
        return OnnxRole("detector", "retinaface", reason="RetinaFace (loc, conf, landmarks)")
    return _inspect_single_output(model, shape)


def _inspect_single_output(model: OnnxModel, shape: tuple[int | None, ...]) -> OnnxRole:
    out: tuple[int | None, ...] = model.outputs[0].shape if len(model.outputs) == 1 else ()
    desc = f"input {shape}, outputs {[o.shape for o in model.outputs]}"
    try:
        input_layout(shape, model.path)
    except ModelError:
        return OnnxRole("other", reason=f"not a 112x112 recognizer: {desc}")
    if len(out) != 2:
        return OnnxRole("other", reason=f"not a recognizer (one (N, D) output): {desc}")
    dim = out[1] or _probe_dim(model, shape)
    if dim < MIN_EMBEDDING_SIZE:
        return OnnxRole("other", reason=f"{dim}-d output is not a face embedding: {desc}")
    return OnnxRole("recognizer", "arcface-onnx", dim=dim, reason=f"recognizer: {desc}")


def _probe_dim(model: OnnxModel, shape: tuple[int | None, ...]) -> int:
    """Embedding size of a graph that leaves it dynamic: run it once on zeros."""
    size = ARCFACE_112.size
    probe = [1 if i == 0 else (d or size) for i, d in enumerate(shape)]
    return int(model.run(np.zeros(probe, np.float32))[0].reshape(1, -1).shape[1])


def graph_normalisation(path: str | Path) -> tuple[float, float]:
    """``(mean, std)`` for a recognizer that declares none, by insightface's rule: a graph
    whose first nodes subtract and multiply normalises inside (0, 1), else (127.5, 127.5)."""
    import onnx

    with map_exceptions(ORT_ERRORS, source=path, what="read the ONNX graph"):
        nodes = onnx.load(str(path), load_external_data=False).graph.node[:8]
    has_sub = any(n.op_type == "Sub" or n.name.startswith(("Sub", "_minus")) for n in nodes)
    has_mul = any(n.op_type == "Mul" or n.name.startswith(("Mul", "_mul")) for n in nodes)
    return (0.0, 1.0) if has_sub and has_mul else (127.5, 127.5)


def input_layout(shape: tuple[int | None, ...], path: str | Path) -> Layout:
    """``"nchw"`` or ``"nhwc"`` from a rank-4 input shape with 112×112 spatial size."""
    size = ARCFACE_112.size
    if len(shape) == 4 and shape[1] == 3 and shape[2] in (size, None) and shape[3] in (size, None):
        return "nchw"
    if len(shape) == 4 and shape[3] == 3 and shape[1] in (size, None) and shape[2] in (size, None):
        return "nhwc"
    raise ModelError(
        f"{path}: input shape {shape} is not an ArcFace-style 112x112x3 image "
        "(expected (N, 3, 112, 112) or (N, 112, 112, 3))",
        source=path,
    )
