"""dlib's ResNet face descriptor (128-d) computed by dlib itself (``dlib-bin``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from faceprint.align import DLIB_150
from faceprint.embed.base import Embedder
from faceprint.errors import ModelError, map_exceptions

if TYPE_CHECKING:
    from faceprint.packs.spec import PackSpec

__all__ = ["DlibResnetEmbedder", "create"]


class DlibResnetEmbedder(Embedder):
    """``dlib.face_recognition_model_v1`` on 150×150 chips, one dlib call per batch."""

    name = "dlib-resnet"
    dim = 128
    crop = DLIB_150

    def __init__(self, model_path: str, *, batch_size: int = 32) -> None:
        import dlib

        super().__init__(batch_size=batch_size)
        with map_exceptions({RuntimeError: ModelError}, source=model_path, what="load the model"):
            self._model = dlib.face_recognition_model_v1(str(model_path))

    def _embed_batch(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        chips = [np.ascontiguousarray(c) for c in crops]
        with map_exceptions({RuntimeError: ModelError}, what="compute face descriptors"):
            return np.asarray(self._model.compute_face_descriptor(chips), dtype=np.float32)


def create(pack: PackSpec, **options: Any) -> DlibResnetEmbedder:
    return DlibResnetEmbedder(str(pack.file("embedder")), **options)
