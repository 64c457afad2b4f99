"""Landmark refinement: any detector's faces → dlib's 68-point shape predictor → five points.

dlib's ResNet was trained on chips aligned by its 68-point shape predictor, and that predictor
was trained on the boxes of dlib's HOG detector: it starts from a mean shape placed in the box,
so a box drawn differently (BlazeFace's covers forehead to chin) gives worse points and worse
embeddings. :class:`Dlib68Refined` therefore first maps each detection to the box HOG would
have drawn (a linear calibration in the detection's own frame, fitted on LFW View 1 training
people by ``benchmarks/fit_box_calibration.py``), then runs the predictor there. Boxes and scores
stay the detector's; only the landmarks change.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from faceprint.detect.base import Detector, check_image
from faceprint.detect.dlib_detectors import _dlib_errors, _five_points
from faceprint.types import Faces

__all__ = ["BLAZEFACE_TO_HOG", "Dlib68Refined", "box_features", "calibrated_boxes"]

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


class Dlib68Refined(Detector):
    """``detector``'s faces with five points from dlib's 68-point predictor on calibrated boxes.

    Args:
        detector: any detector (its five points feed the calibration).
        landmarks_path: ``shape_predictor_68_face_landmarks.dat``.
        coef: the box calibration (default :data:`BLAZEFACE_TO_HOG`).
    """

    def __init__(
        self, detector: Detector, landmarks_path: str, *, coef: npt.ArrayLike = BLAZEFACE_TO_HOG
    ) -> None:
        import dlib

        self.detector = detector
        self.name = f"{detector.name}+dlib-68"
        self.coef = np.asarray(coef, np.float64)
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
        with _dlib_errors(self.name, "find landmarks"):
            points = np.stack([_five_points(self._predictor(image, self._rect(b))) for b in boxes])
        return Faces(faces.boxes, faces.scores, points)

    def _rect(self, box: npt.NDArray[np.float64]) -> Any:
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        return self._dlib.rectangle(x1, y1, x2 - 1, y2 - 1)

    def __repr__(self) -> str:
        return f"Dlib68Refined({self.detector!r})"
