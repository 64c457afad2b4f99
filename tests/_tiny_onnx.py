"""Tiny generated ONNX models with the signatures of real ones (random weights, no real data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def recognizer(
    path: Path,
    *,
    dim: int = 512,
    batch: int | str = "N",
    layout: str = "nchw",
    normalise_inside: bool = False,
    dynamic_dim: bool = False,
    seed: int = 0,
) -> Path:
    """An ArcFace-like recognizer: 112×112×3 in, ``(batch, dim)`` out.

    A stride-8 convolution, ReLU, flatten and a dense layer with random weights. With
    ``normalise_inside`` the graph starts with ``Sub`` and ``Mul`` nodes, as insightface's
    models that normalise internally do; with ``dynamic_dim`` the output size is not declared.
    """
    rng = np.random.default_rng(seed)
    shape = [batch, 3, 112, 112] if layout == "nchw" else [batch, 112, 112, 3]
    nodes, inits, x = [], [], "input"
    if normalise_inside:
        inits += [
            numpy_helper.from_array(np.array(127.5, np.float32), "mean"),
            numpy_helper.from_array(np.array(1 / 128, np.float32), "scale"),
        ]
        nodes += [
            helper.make_node("Sub", [x, "mean"], ["centred"], name="Sub_0"),
            helper.make_node("Mul", ["centred", "scale"], ["scaled"], name="Mul_1"),
        ]
        x = "scaled"
    if layout == "nhwc":
        nodes.append(helper.make_node("Transpose", [x], ["nchw"], perm=[0, 3, 1, 2]))
        x = "nchw"
    w = rng.normal(0, 0.1, (16, 3, 8, 8)).astype(np.float32)
    fc = rng.normal(0, 0.05, (16 * 14 * 14, dim)).astype(np.float32)
    inits += [numpy_helper.from_array(w, "w"), numpy_helper.from_array(fc, "fc")]
    nodes += [
        helper.make_node("Conv", [x, "w"], ["conv"], strides=[8, 8]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("Flatten", ["relu"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "fc"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_recognizer",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
        [
            helper.make_tensor_value_info(
                "embedding", TensorProto.FLOAT, [batch, "D" if dynamic_dim else dim]
            )
        ],
        inits,
    )
    return _save(graph, path)


def multi_output(path: Path, n_outputs: int, last_dims: list[int] | None = None) -> Path:
    """A graph with one NCHW image input and ``n_outputs`` outputs of shape (1, K, last_dim)
    (the output count and shapes are what tells detectors apart; the values are meaningless)."""
    last = last_dims or [1] * n_outputs
    nodes = [
        helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
        helper.make_node("Reshape", ["pooled", "shape"], ["column"]),
    ]
    inits = [numpy_helper.from_array(np.array([1, -1, 1], np.int64), "shape")]
    outputs = []
    for i, d in enumerate(last):
        if f"row{d}" not in {t.name for t in inits}:
            inits.append(numpy_helper.from_array(np.ones((1, d), np.float32), f"row{d}"))
        nodes.append(helper.make_node("MatMul", ["column", f"row{d}"], [f"out{i}"]))
        outputs.append(helper.make_tensor_value_info(f"out{i}", TensorProto.FLOAT, [1, None, d]))
    graph = helper.make_graph(
        nodes,
        "tiny_multi_output",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, None, None])],
        outputs,
        inits,
    )
    return _save(graph, path)


def landmark_model(path: Path, size: int = 192, out_dim: int = 212) -> Path:
    """Like insightface's 2d106det.onnx: a ``size``×``size`` image in, ``(1, out_dim)`` out."""
    rng = np.random.default_rng(1)
    fc = rng.normal(0, 0.1, (3, out_dim)).astype(np.float32)
    nodes = [
        helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "fc"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_landmarks",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, out_dim])],
        [numpy_helper.from_array(fc, "fc")],
    )
    return _save(graph, path)
