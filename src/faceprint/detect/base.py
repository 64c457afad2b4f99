"""The detector interface: an RGB image in, :class:`~faceprint.types.Faces` out."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import numpy.typing as npt

from faceprint.types import Faces

__all__ = ["Detector"]


class Detector(ABC):
    """Finds every face in an image, each with a box, a score and five landmarks.

    Implementations take an ``(H, W, 3)`` uint8 **RGB** array (as returned by
    :func:`faceprint.imageio.load_image`) and return boxes and landmarks in pixels of that
    array. They hold their model for their whole life; create one per thread.
    """

    #: short backend name, e.g. ``"dlib-hog"``
    name: str = ""

    @abstractmethod
    def detect(self, image: npt.NDArray[np.uint8]) -> Faces:
        """All faces in ``image``, without embeddings."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
