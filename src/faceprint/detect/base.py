"""The detector interface: an RGB image in, :class:`~faceprint.types.Faces` out."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import numpy.typing as npt

from faceprint.errors import ImageError
from faceprint.types import Faces

__all__ = ["Detector", "check_image"]


def check_image(image: object) -> npt.NDArray[np.uint8]:
    """``image`` if it is what detectors take: a non-empty ``(H, W, 3)`` uint8 RGB array.

    Raises:
        ImageError: anything else (the message says what was given and what to use).
    """
    ok = (
        isinstance(image, np.ndarray)
        and image.ndim == 3
        and image.shape[2] == 3
        and image.shape[0] > 0
        and image.shape[1] > 0
        and image.dtype == np.uint8
    )
    if not ok:
        got = (
            f"{image.dtype} array of shape {image.shape}"
            if isinstance(image, np.ndarray)
            else type(image).__name__
        )
        raise ImageError(
            f"a detector takes an (H, W, 3) uint8 RGB array (see faceprint.imageio.load_image), "
            f"got {got}"
        )
    return image  # type: ignore[return-value]


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

    def detect_near(self, image: npt.NDArray[np.uint8], near: npt.NDArray[np.float32]) -> Faces:
        """Faces of ``image`` for a caller that expects faces at the boxes ``near`` (N, 4)
        (x1, y1, x2, y2 in its pixels; a tracker's predicted boxes).

        A detector whose search for small faces is costly (BlazeFace's tiles) may run that
        search only where a ``near`` box is that its cheap search missed, so a face that
        appears elsewhere may go unseen until the next :meth:`detect`. By default: ``detect``.
        """
        return self.detect(image)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
