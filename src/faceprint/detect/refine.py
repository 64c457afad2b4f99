"""Landmark refinement: any detector's faces → dlib's 68-point shape predictor → five points.

dlib's ResNet was trained on chips aligned by its 68-point shape predictor, and that predictor
was trained on the boxes of dlib's HOG detector: it starts from a mean shape placed in the box,
so a box drawn differently (BlazeFace's covers forehead to chin) gives worse points and worse
embeddings. :class:`Dlib68Refined` therefore first maps each detection to the box HOG would
have drawn (a linear calibration in the detection's own frame, fitted on LFW View 1 training
people by ``benchmarks/fit_box_calibration.py``), then runs the predictor there. Boxes and scores
stay the detector's; only the landmarks change.

An optional second pass (``landmark_passes=2`` of the BlazeFace backend) runs the predictor again
in the HOG box estimated from the first pass's 68 points (:data:`LANDMARKS_TO_HOG`). It was
measured on LFW View 1 and left off: no better than one pass (docs/detection.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from faceprint.detect.base import Detector, check_image
from faceprint.detect.dlib_detectors import _dlib_errors
from faceprint.types import Faces

__all__ = [
    "BLAZEFACE_TO_HOG",
    "LANDMARKS_TO_HOG",
    "LANDMARK_GROUPS",
    "Dlib68Refined",
    "box_features",
    "calibrated_boxes",
    "five_points",
    "landmark_boxes",
    "landmark_features",
    "landmark_frame",
]

#: (9, 3) least-squares map from :func:`box_features` of a BlazeFace detection to the HOG box's
#: ``(centre − c) / s`` and ``log(side / s)``; ``benchmarks/fit_box_calibration.py`` (3000 images
#: of LFW peopleDevTrain)
BLAZEFACE_TO_HOG: tuple[tuple[float, float, float], ...] = (
    (-0.13349, -0.18677, 0.58461),
    (0.49978, -0.47447, -0.36462),
    (0.03553, 0.08049, 1.67732),
    (-0.20308, 0.30308, 0.39924),
    (0.71244, 0.00276, 2.59241),
    (-0.40616, 0.08608, -0.52444),
    (-1.30510, 0.34135, -2.54789),
    (0.80431, -0.09154, 0.81911),
    (1.79844, 0.13436, 0.39700),
)


#: (33, 3) least-squares map from :func:`landmark_features` of the first pass's 68 points to the
#: HOG box's ``(centre − c) / s`` and ``log(side / s)`` in their frame (:func:`landmark_frame`);
#: ``benchmarks/fit_landmark_calibration.py`` (3000 images of LFW peopleDevTrain)
LANDMARKS_TO_HOG: tuple[tuple[float, float, float], ...] = (
    (1.11130, -1.32250, 0.92620),
    (0.11715, -0.05469, -0.05918),
    (0.18343, -0.05411, -0.03011),
    (0.18986, -0.06387, -0.01662),
    (-0.08023, 0.00689, -0.02760),
    (0.22825, 0.03601, -0.09361),
    (-0.06960, -0.02624, 0.08556),
    (-0.03368, 0.14045, 0.02135),
    (-0.03067, 0.16668, -0.06150),
    (0.15884, -0.05122, -0.00970),
    (-0.07146, -0.18871, 0.02716),
    (0.38802, -0.13032, -0.00098),
    (0.04349, -0.06450, -0.00442),
    (0.10008, 0.31186, -0.07317),
    (0.07017, 0.03055, -0.01537),
    (0.44861, -0.06835, -0.13016),
    (-0.09512, 0.03376, 0.07476),
    (0.24462, 0.15685, -0.13454),
    (0.14211, -0.04617, 0.14707),
    (0.08624, -0.03910, 0.08041),
    (0.21728, -0.15484, -0.16748),
    (-0.00909, 0.08753, -0.05051),
    (0.01384, -0.09882, -0.11127),
    (0.38749, -0.26125, -0.01151),
    (-0.00980, 0.13191, 0.24580),
    (0.15039, -0.08597, -0.00809),
    (-0.10808, 0.08505, 0.06569),
    (0.06615, 0.01708, 0.03229),
    (0.05255, -0.07130, -0.00738),
    (0.08820, 0.16182, -0.07646),
    (0.01790, -0.04251, 0.01806),
    (0.23552, 0.04783, -0.07690),
    (-0.07380, 0.05274, -0.11099),
)


def box_features(
    boxes: npt.NDArray[np.float32], points: npt.NDArray[np.float32]
) -> npt.NDArray[np.float64]:
    """(N, 9): a constant, then the eyes, nose tip and mouth centre relative to each box's
    centre, in units of its width."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    p = np.asarray(points, np.float64).reshape(-1, 5, 2)
    centre = (b[:, None, :2] + b[:, None, 2:]) / 2
    side = (b[:, 2] - b[:, 0])[:, None, None]
    four = np.concatenate([p[:, :3], p[:, 3:].mean(1, keepdims=True)], axis=1)
    rel = ((four - centre) / side).reshape(len(b), 8)
    return np.concatenate([np.ones((len(b), 1)), rel], axis=1)


def calibrated_boxes(
    boxes: npt.NDArray[np.float32],
    points: npt.NDArray[np.float32],
    coef: npt.ArrayLike = BLAZEFACE_TO_HOG,
) -> npt.NDArray[np.float64]:
    """(N, 4) square boxes x1, y1, x2, y2 where the calibration ``coef`` places the HOG box."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    pred = box_features(boxes, points) @ np.asarray(coef, np.float64)
    side = b[:, 2] - b[:, 0]
    centre = (b[:, :2] + b[:, 2:]) / 2 + pred[:, :2] * side[:, None]
    half = (np.exp(pred[:, 2]) * side / 2)[:, None]
    return np.concatenate([centre - half, centre + half], axis=1)


def _points(shape: Any) -> npt.NDArray[np.float32]:
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def five_points(shapes: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(N, 5, 2) eye centres, nose tip and mouth corners of (N, 68, 2) iBUG points (as
    :func:`faceprint.detect.dlib_detectors._five_points`)."""
    s = np.asarray(shapes, np.float32).reshape(-1, 68, 2)
    return np.stack(
        [s[:, 36:42].mean(1), s[:, 42:48].mean(1), s[:, 30], s[:, 48], s[:, 54]], axis=1
    ).astype(np.float32)


#: the iBUG points (groups averaged) whose positions feed :func:`landmark_features`: five on the
#: jaw, the brows, the eyes, the nose bridge, tip and base, the mouth corners and lips
LANDMARK_GROUPS: tuple[tuple[int, ...], ...] = (
    (0,), (4,), (8,), (12,), (16,),
    tuple(range(17, 22)), tuple(range(22, 27)),
    tuple(range(36, 42)), tuple(range(42, 48)),
    (27,), (30,), (33,),
    (48,), (54,), (51,), (57,),
)  # fmt: skip


def landmark_frame(
    shapes: npt.ArrayLike,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(N, 2) centres and (N,) scales of (N, 68, 2) points: their mean and RMS distance to it."""
    s = np.asarray(shapes, np.float64).reshape(-1, 68, 2)
    centre = s.mean(1)
    scale = np.sqrt(((s - centre[:, None]) ** 2).sum(2).mean(1))
    return centre, scale


def landmark_features(shapes: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """(N, 1 + 2 G): a constant, then each of :data:`LANDMARK_GROUPS`' mean position relative
    to the points' centre, in units of their scale (:func:`landmark_frame`)."""
    s = np.asarray(shapes, np.float64).reshape(-1, 68, 2)
    centre, scale = landmark_frame(s)
    groups = np.stack([s[:, list(g)].mean(1) for g in LANDMARK_GROUPS], axis=1)
    rel = ((groups - centre[:, None]) / scale[:, None, None]).reshape(len(s), -1)
    return np.concatenate([np.ones((len(s), 1)), rel], axis=1)


def landmark_boxes(shapes: npt.NDArray[np.float32], coef: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """(N, 4) square boxes x1, y1, x2, y2 where ``coef`` places the HOG box of (N, 68, 2)
    first-pass points."""
    centre, scale = landmark_frame(shapes)
    pred = landmark_features(shapes) @ np.asarray(coef, np.float64)
    mid = centre + pred[:, :2] * scale[:, None]
    half = (np.exp(pred[:, 2]) * scale / 2)[:, None]
    return np.concatenate([mid - half, mid + half], axis=1)


class Dlib68Refined(Detector):
    """``detector``'s faces with five points from dlib's 68-point predictor on calibrated boxes.

    Args:
        detector: any detector (its five points feed the calibration).
        landmarks_path: ``shape_predictor_68_face_landmarks.dat``.
        coef: the box calibration (default :data:`BLAZEFACE_TO_HOG`).
        second: a landmark calibration (e.g. :data:`LANDMARKS_TO_HOG`): run the predictor a
            second time, in the box it places from the first pass's 68 points; ``None``: once.
    """

    def __init__(
        self,
        detector: Detector,
        landmarks_path: str,
        *,
        coef: npt.ArrayLike = BLAZEFACE_TO_HOG,
        second: npt.ArrayLike | None = None,
    ) -> None:
        import dlib

        self.detector = detector
        self.name = f"{detector.name}+dlib-68" + ("x2" if second is not None else "")
        self.coef = np.asarray(coef, np.float64)
        self.second = None if second is None else np.asarray(second, np.float64)
        with _dlib_errors(landmarks_path, "load the landmark model"):
            self._predictor = dlib.shape_predictor(str(landmarks_path))
        self._dlib = dlib

    def detect(self, image: npt.NDArray[np.uint8]) -> Faces:
        image = np.ascontiguousarray(check_image(image))
        return self._refine(image, self.detector.detect(image))

    def detect_near(self, image: npt.NDArray[np.uint8], near: npt.NDArray[np.float32]) -> Faces:
        image = np.ascontiguousarray(check_image(image))
        return self._refine(image, self.detector.detect_near(image, near))

    def _refine(self, image: npt.NDArray[np.uint8], faces: Faces) -> Faces:
        if len(faces) == 0:
            return faces
        boxes = calibrated_boxes(faces.boxes, faces.landmarks, self.coef)
        if self.second is not None:
            boxes = landmark_boxes(self.shapes(image, boxes), self.second)
        shapes = self.shapes(image, boxes)
        return Faces(faces.boxes, faces.scores, five_points(shapes))

    def shapes(
        self, image: npt.NDArray[np.uint8], boxes: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float32]:
        """(N, 68, 2): the predictor's points in each box of the contiguous RGB ``image``."""
        with _dlib_errors(self.name, "find landmarks"):
            return np.stack([_points(self._predictor(image, self._rect(b))) for b in boxes])

    def _rect(self, box: npt.NDArray[np.float64]) -> Any:
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        return self._dlib.rectangle(x1, y1, x2 - 1, y2 - 1)

    def __repr__(self) -> str:
        passes = "" if self.second is None else ", passes=2"
        return f"Dlib68Refined({self.detector!r}{passes})"
