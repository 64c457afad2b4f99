"""A 0..1 quality measure of a detected face: big enough and sharp enough to be worth reviewing.

``quality = min(1, size / GOOD_SIZE) × min(1, sharpness / GOOD_SHARPNESS)`` where ``size`` is the
shorter side of the face box in pixels of the photo and ``sharpness`` the variance of the
Laplacian of the aligned 112×112 grey thumbnail (out-of-focus and motion-blurred faces score
low). Clustering leaves faces below its ``quality_floor`` unclustered, so tiny background faces
and blurred ones do not crowd the list a user reviews (they are still indexed and searchable).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["GOOD_SHARPNESS", "GOOD_SIZE", "face_quality", "face_size"]

#: a face box whose shorter side is at least this many pixels counts as fully sized
GOOD_SIZE = 60.0
#: Laplacian variance of a 112×112 thumbnail at which a face counts as fully sharp
GOOD_SHARPNESS = 100.0


def face_size(box: npt.ArrayLike) -> float:
    """Shorter side of an ``x1, y1, x2, y2`` box, in pixels."""
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box, np.float64).reshape(4))
    return max(0.0, min(x2 - x1, y2 - y1))


def sharpness(thumbnail: bytes) -> float:
    """Variance of the Laplacian of a JPEG thumbnail in grey (0 when it cannot be decoded)."""
    buf = np.frombuffer(thumbnail, np.uint8)
    grey = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if len(buf) else None
    if grey is None:
        return 0.0
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def face_quality(box: npt.ArrayLike, thumbnail: bytes | None) -> float:
    """The 0..1 quality of one face (see the module docstring); size alone without thumbnail."""
    size_part = min(1.0, face_size(box) / GOOD_SIZE)
    if thumbnail is None:
        return size_part
    return size_part * min(1.0, sharpness(thumbnail) / GOOD_SHARPNESS)
