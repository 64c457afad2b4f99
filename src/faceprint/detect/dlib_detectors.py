"""dlib's detectors (HOG, MMOD CNN) followed by dlib's 68-point shape predictor.

The 68 points are reduced to the five of :mod:`faceprint.types`: the centres of the two eyes
(means of points 36–41 and 42–47), the nose tip (30) and the mouth corners (48, 54).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from faceprint.detect.base import Detector
from faceprint.types import Faces

if TYPE_CHECKING:
    from faceprint.packs.registry import PackSpec

__all__ = ["DlibCnnDetector", "DlibHogDetector", "create_cnn", "create_hog"]


def _five_points(shape: Any) -> npt.NDArray[np.float32]:
    pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
    return np.stack([pts[36:42].mean(0), pts[42:48].mean(0), pts[30], pts[48], pts[54]])


class _DlibBase(Detector):
    def __init__(self, landmarks_path: str, *, upsample: int) -> None:
        import dlib

        if upsample < 0:
            raise ValueError(f"upsample must be >= 0, got {upsample}")
        self.upsample = upsample
        self._predictor = dlib.shape_predictor(str(landmarks_path))
        self._dlib = dlib

    def _run(self, image: npt.NDArray[np.uint8]) -> tuple[list[Any], list[float]]:
        raise NotImplementedError

    def detect(self, image: npt.NDArray[np.uint8]) -> Faces:
        image = np.ascontiguousarray(image, dtype=np.uint8)
        rects, scores = self._run(image)
        if not rects:
            return Faces.empty()
        boxes = np.array(
            [(r.left(), r.top(), r.right() + 1, r.bottom() + 1) for r in rects], np.float32
        )
        landmarks = np.stack([_five_points(self._predictor(image, r)) for r in rects])
        return Faces(boxes, np.asarray(scores, np.float32), landmarks)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(upsample={self.upsample})"


class DlibHogDetector(_DlibBase):
    """dlib's HOG + linear SVM frontal face detector; ``score`` is the SVM margin."""

    name = "dlib-hog"

    def __init__(self, landmarks_path: str, *, upsample: int = 1, min_score: float = 0.0) -> None:
        super().__init__(landmarks_path, upsample=upsample)
        self.min_score = min_score
        self._detector = self._dlib.get_frontal_face_detector()

    def _run(self, image: npt.NDArray[np.uint8]) -> tuple[list[Any], list[float]]:
        rects, scores, _ = self._detector.run(image, self.upsample, self.min_score)
        return list(rects), [float(s) for s in scores]


class DlibCnnDetector(_DlibBase):
    """dlib's MMOD CNN face detector (slower, finds more non-frontal faces)."""

    name = "dlib-cnn"

    def __init__(
        self, landmarks_path: str, model_path: str, *, upsample: int = 1, min_score: float = 0.0
    ) -> None:
        super().__init__(landmarks_path, upsample=upsample)
        self.min_score = min_score
        self._detector = self._dlib.cnn_face_detection_model_v1(str(model_path))

    def _run(self, image: npt.NDArray[np.uint8]) -> tuple[list[Any], list[float]]:
        dets = [d for d in self._detector(image, self.upsample) if d.confidence >= self.min_score]
        return [d.rect for d in dets], [float(d.confidence) for d in dets]


def create_hog(pack: PackSpec, **options: Any) -> DlibHogDetector:
    return DlibHogDetector(str(pack.file("landmarks")), **options)


def create_cnn(pack: PackSpec, **options: Any) -> DlibCnnDetector:
    return DlibCnnDetector(str(pack.file("landmarks")), str(pack.file("cnn_detector")), **options)
