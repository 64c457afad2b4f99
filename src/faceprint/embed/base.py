"""The embedder interface: aligned crops in, L2-normalised embeddings out."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import numpy.typing as npt

from faceprint.align import CropSpec
from faceprint.errors import InvalidArgumentError

__all__ = ["Embedder", "l2_normalize"]


def l2_normalize(x: npt.NDArray[np.floating], axis: int = -1) -> npt.NDArray[np.float32]:
    """Rows scaled to unit L2 norm (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=axis, keepdims=True)
    return (x / np.maximum(norm, 1e-12)).astype(np.float32, copy=False)


class Embedder(ABC):
    """Turns aligned face crops into L2-normalised float32 embeddings, in batches.

    ``crop`` says which aligned crop the model expects (size and 5-point template);
    :func:`faceprint.align.align_faces` makes them. ``embed`` takes a stack of crops
    ``(N, S, S, 3)`` uint8 RGB and returns ``(N, dim)`` float32 with unit rows, computed in
    batches of at most ``batch_size`` (one backend call per batch, never one per face).
    """

    name: str = ""
    dim: int = 0
    crop: CropSpec

    @abstractmethod
    def _embed_batch(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Raw (not necessarily normalised) embeddings of one batch of crops."""

    def __init__(self, *, batch_size: int = 32) -> None:
        if batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size

    def embed(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """``(N, dim)`` unit-norm float32 embeddings of ``(N, S, S, 3)`` uint8 RGB crops."""
        crops = np.asarray(crops)
        size = self.crop.size
        if crops.ndim != 4 or crops.shape[1:] != (size, size, 3):
            raise InvalidArgumentError(
                f"crops must have shape (N, {size}, {size}, 3), got {crops.shape}"
            )
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        parts = [
            self._embed_batch(crops[i : i + self.batch_size])
            for i in range(0, len(crops), self.batch_size)
        ]
        return l2_normalize(np.concatenate(parts, axis=0))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(batch_size={self.batch_size})"
