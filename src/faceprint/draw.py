"""Drawing faces (boxes, landmarks, labels) on an RGB image, for ``--draw`` outputs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from faceprint.errors import ImageError, InvalidArgumentError, map_exceptions
from faceprint.imageio import printable
from faceprint.types import Faces

__all__ = ["IMAGE_EXTENSIONS", "check_image_path", "draw_faces", "save_image"]

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


#: extensions ``save_image`` writes, and the OpenCV encoder each uses
IMAGE_EXTENSIONS = {
    ".png": ".png",
    ".jpg": ".jpg",
    ".jpeg": ".jpg",
    ".webp": ".webp",
    ".bmp": ".bmp",
    ".tif": ".tiff",
    ".tiff": ".tiff",
}


def check_image_path(path: str | Path) -> Path:
    """``path`` if its extension is one :func:`save_image` writes.

    Raises:
        InvalidArgumentError: no or an unknown extension.
    """
    path = Path(path)
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        known = ", ".join(sorted(IMAGE_EXTENSIONS))
        got = f"{path.suffix!r}" if path.suffix else "no extension"
        raise InvalidArgumentError(
            f"{printable(str(path))}: cannot tell the image format from {got}; use one of {known}"
        )
    return path


def save_image(path: str | Path, image: npt.NDArray[np.uint8]) -> None:
    """Write an RGB image; the format follows the extension (``.png``, ``.jpg``, ...).

    The image is encoded in memory and written through a temporary file renamed into place, so
    any path the file system accepts works (OpenCV's own writer cannot take every name) and a
    failed write leaves no partial file.

    Raises:
        InvalidArgumentError: unknown extension; ImageError: the image cannot be encoded or
        the file cannot be written.
    """
    path = check_image_path(path)
    bgr = np.ascontiguousarray(image[:, :, ::-1])
    with map_exceptions(
        {cv2.error: ImageError}, source=printable(str(path)), what="encode the image"
    ):
        ok, buf = cv2.imencode(IMAGE_EXTENSIONS[path.suffix.lower()], bgr)
    if not ok:
        raise ImageError(f"{printable(str(path))}: cannot encode the image", source=path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(buf.tobytes())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        cause = (exc.strerror or str(exc)).lower()
        raise ImageError(
            f"{printable(str(path))}: cannot write the image ({cause})", source=path
        ) from exc
