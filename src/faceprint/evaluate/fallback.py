"""What to do with an image in which the pack's detector finds no face.

A benchmark protocol must score every pair, so an evaluation can try *fallbacks*, in order, on the
images the pack's detector misses:

* ``"upsample2"`` – the pack's detector again with twice the upsampling (smaller faces);
* ``"cnn"`` – dlib's MMOD CNN detector (finds more non-frontal faces; slow on a CPU);
* ``"center-box"`` – a fixed box in the centre of the image, with landmarks predicted in it by the
  pack's dlib 68-point model: for benchmark images that are centred on their subject, as LFW's are;
* ``"whole-image"`` – the whole image as the box (what ageitgey/face_recognition's LFW runs did).

The box fallbacks need a pack whose landmarks come from dlib's 68-point model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from faceprint.detect.base import Detector
from faceprint.errors import InvalidArgumentError, ModelError
from faceprint.types import Faces

if TYPE_CHECKING:
    from faceprint.packs.registry import PackSpec

__all__ = [
    "CENTER_BOX",
    "FALLBACKS",
    "SUBJECT_MIN_IOU",
    "Fallback",
    "FixedBoxDetector",
    "applicable_fallbacks",
    "check_fallbacks",
    "create_fallback",
    "fallback_config",
    "fallback_problem",
    "subject_face",
]

Fallback = Literal["upsample2", "cnn", "center-box", "whole-image"]
FALLBACKS: tuple[Fallback, ...] = ("upsample2", "cnn", "center-box", "whole-image")

#: the centre box as fractions (x1, y1, x2, y2) of the image's width and height: the median box
#: of the face nearest the centre that dlib's HOG detector (upsample 1) finds in the 13,166 of
#: LFW-deepfunneled's 13,233 images where it finds one: (67, 80, 176, 188) in 250×250 pixels
CENTER_BOX = (0.268, 0.32, 0.704, 0.752)
#: a face is the subject only if its box overlaps CENTER_BOX by at least this IoU. On LFW the best
#: IoU of an image's faces is >= 0.3 for 13,160 images and < 0.05 for 6 (where the detector found
#: only a bystander): the gap, found without labels, puts the cut at 0.2
SUBJECT_MIN_IOU = 0.2


def _iou(boxes: npt.NDArray[np.float32], ref: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    lo = np.maximum(boxes[:, :2], ref[:2])
    hi = np.minimum(boxes[:, 2:], ref[2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    return inter / (areas + np.prod(ref[2:] - ref[:2]) - inter)


def subject_face(
    faces: Faces, shape: tuple[int, int], *, min_iou: float = SUBJECT_MIN_IOU
) -> int | None:
    """Index of the face that best overlaps :data:`CENTER_BOX` of an image of ``shape`` (h, w),
    or ``None`` when none overlaps it by ``min_iou``: the subject of a centred benchmark crop."""
    if len(faces) == 0:
        return None
    h, w = shape
    ref = np.asarray(CENTER_BOX) * np.array([w, h, w, h])
    iou = _iou(faces.boxes, ref)
    best = int(np.argmax(iou))
    return best if iou[best] >= min_iou else None


class FixedBoxDetector(Detector):
    """One face per image in a fixed box (fractions of the image), landmarks by dlib's predictor.

    Not a face detector: it assumes there is a face in the box, as in a benchmark whose images
    are centred on their subject. ``score`` is 0.
    """

    name = "fixed-box"

    def __init__(self, landmarks_path: str, box: tuple[float, float, float, float]) -> None:
        import dlib

        x1, y1, x2, y2 = box
        if not (0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1):
            raise InvalidArgumentError(
                f"box must be fractions 0 <= x1 < x2 <= 1 (same for y), got {box}"
            )
        self.box = box
        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(landmarks_path))

    def detect(self, image: npt.NDArray[np.uint8]) -> Faces:
        from faceprint.detect.dlib_detectors import _five_points

        image = np.ascontiguousarray(image, dtype=np.uint8)
        h, w = image.shape[:2]
        x1, y1 = round(self.box[0] * w), round(self.box[1] * h)
        x2, y2 = round(self.box[2] * w), round(self.box[3] * h)
        shape = self._predictor(image, self._dlib.rectangle(x1, y1, x2 - 1, y2 - 1))
        return Faces(
            np.array([[x1, y1, x2, y2]], np.float32),
            np.zeros(1, np.float32),
            _five_points(shape)[None],
        )

    def __repr__(self) -> str:
        return f"FixedBoxDetector(box={self.box})"


def fallback_config(
    pack: PackSpec, fallback: Fallback, primary: Mapping[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """(backend name, options) of a fallback: what its detections are cached under.

    ``primary``: the options of the pack's detector as used (default: the pack's own).
    """
    if fallback == "upsample2":
        options = dict(pack.detector_options if primary is None else primary)
        upsample = int(options.get("upsample", 1))
        return pack.detector, {**options, "upsample": 2 * max(upsample, 1)}
    if fallback == "cnn":
        return "dlib-cnn", {"upsample": 1}
    if fallback == "center-box":
        return "fixed-box", {"box": list(CENTER_BOX)}
    if fallback == "whole-image":
        return "fixed-box", {"box": [0.0, 0.0, 1.0, 1.0]}
    raise InvalidArgumentError(f"unknown fallback {fallback!r}; known: {', '.join(FALLBACKS)}")


def fallback_problem(pack: PackSpec, fallback: Fallback) -> str:
    """Why ``fallback`` cannot run with ``pack`` ("" when it can)."""
    if fallback not in FALLBACKS:
        return f"unknown fallback {fallback!r}; known: {', '.join(FALLBACKS)}"
    if fallback == "upsample2" and "upsample" not in pack.detector_options:
        return (
            f"fallback 'upsample2' needs a detector with an upsample option (dlib's); pack "
            f"{pack.name!r} uses {pack.detector!r}"
        )
    if fallback == "cnn" and "cnn_detector" not in pack.files:
        return f"fallback 'cnn' needs dlib's CNN detector file; pack {pack.name!r} has none"
    if fallback in ("center-box", "whole-image") and pack.landmarks != "dlib-68":
        return (
            f"fallback {fallback!r} needs dlib's 68-point landmarks; pack {pack.name!r} has "
            f"{pack.landmarks or 'landmarks from its detector'}"
        )
    return ""


def applicable_fallbacks(pack: PackSpec, fallbacks: tuple[Fallback, ...]) -> tuple[Fallback, ...]:
    """The fallbacks of ``fallbacks`` that can run with ``pack``, in order."""
    return tuple(f for f in fallbacks if not fallback_problem(pack, f))


def check_fallbacks(pack: PackSpec, fallbacks: tuple[Fallback, ...]) -> None:
    """Raise :class:`ModelError` naming the first fallback that cannot run with ``pack``."""
    for f in fallbacks:
        if problem := fallback_problem(pack, f):
            raise ModelError(f"{problem} (choose other fallbacks, or none)")


def create_fallback(
    pack: PackSpec, fallback: Fallback, primary: Mapping[str, Any] | None = None
) -> Detector:
    """The detector that implements ``fallback`` for ``pack`` (``primary``: as above).

    Raises:
        ModelError: the fallback cannot run with this pack (see :func:`fallback_problem`).
    """
    check_fallbacks(pack, (fallback,))
    backend, options = fallback_config(pack, fallback, primary)
    if backend == "fixed-box":
        return FixedBoxDetector(str(pack.file("landmarks")), tuple(options["box"]))
    return replace(pack, detector=backend, detector_options={}).create_detector(**options)
