"""ArcFace-style recognizers from ONNX files: insightface's ``w600k_r50.onnx``/``glintr100.onnx``,
MobileFaceNet, and any model with the same signature.

Signature: one image input of 112×112×3 (NCHW ``(N, 3, 112, 112)`` or NHWC
``(N, 112, 112, 3)``, told apart by where the 3 is), one output ``(N, D)`` with any ``D`` (read
from the graph). Crops are aligned to :data:`~faceprint.align.ARCFACE_112`; outputs are
L2-normalised by :class:`~faceprint.embed.base.Embedder`.

Input normalisation ``(x - mean) / std`` on 0–255 pixels, in ``color`` order (RGB for every
insightface model). When the pack does not declare ``input_mean``/``input_std`` they are read
from the graph by insightface's rule: if the first 8 nodes contain both a ``Sub`` and a ``Mul``
(by op type or by a node name starting ``Sub``/``_minus`` and ``Mul``/``_mul``), the model
normalises internally and gets raw pixels (mean 0, std 1); otherwise it gets
``(x - 127.5) / 127.5``. MobileFaceNet exports usually want ``(x - 127.5) / 128`` and must
declare it.

Batching: a graph with a dynamic batch axis gets ``batch_size`` crops per call. A graph with a
fixed batch size ``B`` (many exports have ``B = 1``) is fed ``B`` crops per call, the last
call padded, all in one session.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from faceprint._onnx import OnnxModel, check_options, checked_file
from faceprint._onnx_graph import graph_normalisation, input_layout
from faceprint.align import ARCFACE_112
from faceprint.embed.base import Embedder
from faceprint.errors import InvalidArgumentError, ModelError

if TYPE_CHECKING:
    from faceprint.packs.spec import PackSpec

__all__ = ["ArcFaceOnnxEmbedder", "create", "graph_normalisation"]

logger = logging.getLogger(__name__)


class ArcFaceOnnxEmbedder(Embedder):
    """An ArcFace-style ONNX recognizer on 112×112 ArcFace-aligned crops.

    Args:
        model_path: the ``.onnx`` file.
        input_mean / input_std: normalisation ``(x - mean) / std``; both ``None``: from the graph.
        color: channel order the model expects.
        batch_size: crops per call for a dynamic-batch graph.
        threads: onnxruntime intra-op threads (``None``: one per core).
    """

    name = "arcface-onnx"
    crop = ARCFACE_112

    def __init__(
        self,
        model_path: str,
        *,
        input_mean: float | None = None,
        input_std: float | None = None,
        color: Literal["rgb", "bgr"] = "rgb",
        batch_size: int = 32,
        threads: int | None = None,
    ) -> None:
        super().__init__(batch_size=batch_size)
        self.model = OnnxModel(model_path, threads=threads)
        if len(self.model.outputs) != 1:
            raise ModelError(
                f"{model_path}: a recognizer has one output (N, D), this graph has "
                f"{len(self.model.outputs)}"
            )
        self.layout = input_layout(self.model.input.shape, self.model.path)
        self.mean, self.std = self._normalisation(input_mean, input_std)
        if color not in ("rgb", "bgr"):
            raise InvalidArgumentError(f"color must be 'rgb' or 'bgr', got {color!r}")
        self.color = color
        self.fixed_batch = self.model.input.shape[0]
        if self.fixed_batch is not None:
            self.batch_size = self.fixed_batch
            logger.info("%s has a fixed batch of %d", self.model.path.name, self.fixed_batch)
        self.dim = self._output_dim()

    def _normalisation(self, mean: float | None, std: float | None) -> tuple[float, float]:
        if (mean is None) != (std is None):
            raise InvalidArgumentError("declare both input_mean and input_std, or neither")
        if mean is not None and std is not None:
            if std <= 0:
                raise InvalidArgumentError(f"input_std must be > 0, got {std}")
            return float(mean), float(std)
        found = graph_normalisation(self.model.path)
        logger.info("%s: normalisation from the graph: mean %s, std %s", self.model.path, *found)
        return found

    def _output_dim(self) -> int:
        declared = self.model.outputs[0].shape
        if len(declared) >= 2 and declared[-1] is not None:
            return int(np.prod([d or 1 for d in declared[1:]]))
        probe = np.zeros((1 if self.fixed_batch is None else self.fixed_batch, 112, 112, 3))
        return int(self._run(probe.astype(np.uint8)).shape[1])

    def _prepare(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        ordered = crops[..., ::-1] if self.color == "bgr" else crops
        x = (ordered.astype(np.float32) - self.mean) / self.std
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2) if self.layout == "nchw" else x)

    def _run(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        out = self.model.run(self._prepare(crops))[0]
        return out.reshape(len(out), -1)

    def _embed_batch(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        n = len(crops)
        if self.fixed_batch is not None and n < self.fixed_batch:
            pad = np.zeros((self.fixed_batch - n, *crops.shape[1:]), np.uint8)
            return self._run(np.concatenate([crops, pad]))[:n]
        return self._run(crops)

    def __repr__(self) -> str:
        return (
            f"ArcFaceOnnxEmbedder({self.model.path.name!r}, dim={self.dim}, mean={self.mean}, "
            f"std={self.std}, color={self.color!r}, batch_size={self.batch_size})"
        )


def create(pack: PackSpec, **options: Any) -> ArcFaceOnnxEmbedder:
    check_options(ArcFaceOnnxEmbedder, options)
    return ArcFaceOnnxEmbedder(str(checked_file(pack, "embedder")), **options)
