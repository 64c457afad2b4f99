"""Drawing faces (boxes, landmarks, labels) on an RGB image, for ``--draw`` outputs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from faceprint.errors import ImageError
from faceprint.types import Faces

__all__ = ["draw_faces", "save_image"]

_GREEN = (40, 200, 40)
_RED = (220, 40, 40)
_LANDMARK_COLOURS = ((255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 0, 255), (0, 255, 255))


def draw_faces(
    image: npt.NDArray[np.uint8],
    faces: Faces,
    labels: Sequence[str] | None = None,
    *,
    unknown: Sequence[bool] | None = None,
) -> npt.NDArray[np.uint8]:
    """A copy of the RGB ``image`` with each face's box, five landmarks and optional label.

    Faces flagged in ``unknown`` are drawn in red, the others in green.
    """
    out = np.ascontiguousarray(image.copy())
    thick = max(1, round(max(image.shape[:2]) / 400))
    for i, face in enumerate(faces):
        colour = _RED if unknown is not None and unknown[i] else _GREEN
        x1, y1, x2, y2 = (round(float(v)) for v in face.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thick)
        for (x, y), c in zip(face.landmarks, _LANDMARK_COLOURS):
            cv2.circle(out, (round(float(x)), round(float(y))), thick + 1, c, -1)
        if labels is not None:
            _label(out, labels[i], (x1, y1), colour, thick)
    return out


def _label(
    img: npt.NDArray[np.uint8],
    text: str,
    at: tuple[int, int],
    colour: tuple[int, int, int],
    thick: int,
) -> None:
    scale = 0.4 + 0.2 * thick
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    x, y = at[0], max(at[1], h + base + 2)
    cv2.rectangle(img, (x, y - h - base - 2), (x + w + 2, y), colour, -1)
    cv2.putText(
        img, text, (x + 1, y - base), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick
    )


def save_image(path: str | Path, image: npt.NDArray[np.uint8]) -> None:
    """Write an RGB image; the format follows the extension (``.png``, ``.jpg``, ...)."""
    path = Path(path)
    ok = cv2.imwrite(str(path), np.ascontiguousarray(image[:, :, ::-1]))
    if not ok:
        raise ImageError(f"{path}: cannot write image (unknown extension or unwritable folder)")
