"""dlib's detectors (HOG, MMOD CNN) followed by dlib's 68-point shape predictor.

The 68 points are reduced to the five of :mod:`faceprint.types`: the centres of the two eyes
(means of points 36–41 and 42–47), the nose tip (30) and the mouth corners (48, 54).
"""

from __future__ import annotations

import logging
import os
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from faceprint._home import faceprint_home
from faceprint.detect.base import Detector, check_image
from faceprint.errors import InvalidArgumentError, ModelError, map_exceptions
from faceprint.types import Faces

if TYPE_CHECKING:
    from faceprint.packs.spec import PackSpec

__all__ = [
    "DlibCnnDetector",
    "DlibHogDetector",
    "create_cnn",
    "create_hog",
    "frontal_face_detector",
]

logger = logging.getLogger(__name__)


def _dlib_errors(source: object, what: str) -> AbstractContextManager[None]:
    """dlib reports unreadable model files (and failed runs) as ``RuntimeError``."""
    return map_exceptions({RuntimeError: ModelError}, source=source, what=what)


def frontal_face_detector() -> Any:
    """dlib's HOG frontal face detector, loaded from a serialised copy in
    ``faceprint_home()/models`` (made from dlib itself on first use, keyed by dlib's version).

    ``dlib.get_frontal_face_detector()`` rebuilds the detector from source text in about 0.7 s
    of CPU; the saved copy loads in a millisecond, which every worker process of the batch
    engine and every command start pays. A missing, truncated or unreadable copy is rebuilt.
    """
    import dlib

    path = faceprint_home() / "models" / f"dlib_frontal_face_{dlib.__version__}.svm"
    if path.is_file():
        try:
            return dlib.fhog_object_detector(str(path))
        except RuntimeError:  # truncated or foreign: rebuild below
            logger.info("%s: unreadable; rebuilding it", path)
    detector = dlib.get_frontal_face_detector()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        detector.save(str(tmp))
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:  # a read-only home only costs the rebuild
        logger.info("cannot cache the HOG detector at %s: %s", path, exc)
    return detector


def _five_points(shape: Any) -> npt.NDArray[np.float32]:
    pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
    return np.stack([pts[36:42].mean(0), pts[42:48].mean(0), pts[30], pts[48], pts[54]])


class _DlibBase(Detector):
    def __init__(self, landmarks_path: str, *, upsample: int) -> None:
        import dlib

        if upsample < 0:
            raise InvalidArgumentError(f"upsample must be >= 0, got {upsample}")
        self.upsample = upsample
        with _dlib_errors(landmarks_path, "load the landmark model"):
            self._predictor = dlib.shape_predictor(str(landmarks_path))
        self._dlib = dlib

    def _run(self, image: npt.NDArray[np.uint8]) -> tuple[list[Any], list[float]]:
        raise NotImplementedError

    def detect(self, image: npt.NDArray[np.uint8]) -> Faces:
        image = np.ascontiguousarray(check_image(image))
        with _dlib_errors(self.name, "detect faces"):
            rects, scores = self._run(image)
        if not rects:
            return Faces.empty()
        boxes = np.array(
            [(r.left(), r.top(), r.right() + 1, r.bottom() + 1) for r in rects], np.float32
        )
        with _dlib_errors(self.name, "find landmarks"):
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
        self._detector = frontal_face_detector()

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
        with _dlib_errors(model_path, "load the CNN face detector"):
            self._detector = self._dlib.cnn_face_detection_model_v1(str(model_path))

    def _run(self, image: npt.NDArray[np.uint8]) -> tuple[list[Any], list[float]]:
        dets = [d for d in self._detector(image, self.upsample) if d.confidence >= self.min_score]
        return [d.rect for d in dets], [float(d.confidence) for d in dets]


def create_hog(pack: PackSpec, **options: Any) -> DlibHogDetector:
    return DlibHogDetector(str(pack.file("landmarks")), **options)


def create_cnn(pack: PackSpec, **options: Any) -> DlibCnnDetector:
    return DlibCnnDetector(str(pack.file("landmarks")), str(pack.file("cnn_detector")), **options)
