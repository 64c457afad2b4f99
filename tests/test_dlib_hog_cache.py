"""The serialised copy of dlib's HOG detector: the same detections, rebuilt when damaged."""

from __future__ import annotations

import os
from pathlib import Path

import dlib
import numpy as np
import pytest

from faceprint.detect.dlib_detectors import frontal_face_detector
from faceprint.imageio import load_image


def _cached() -> Path:
    return (
        Path(os.environ["FACEPRINT_HOME"]) / "models" / f"dlib_frontal_face_{dlib.__version__}.svm"
    )


@pytest.mark.data
def test_cached_detector_finds_what_dlib_finds(data_dir: Path) -> None:
    frontal_face_detector()
    assert _cached().is_file()
    image = load_image(data_dir / "photos" / "dlib_faces" / "bald_guys.jpg")
    fresh = dlib.get_frontal_face_detector().run(image, 1, 0.0)
    cached = frontal_face_detector().run(image, 1, 0.0)
    assert len(fresh[0]) >= 20
    assert [(r.left(), r.top(), r.right(), r.bottom()) for r in fresh[0]] == [
        (r.left(), r.top(), r.right(), r.bottom()) for r in cached[0]
    ]
    np.testing.assert_allclose(fresh[1], cached[1])


def test_a_damaged_copy_is_rebuilt() -> None:
    frontal_face_detector()
    path = _cached()
    path.write_bytes(path.read_bytes()[:100])
    detector = frontal_face_detector()
    assert len(detector.run(np.zeros((100, 100, 3), np.uint8), 0, 0.0)[0]) == 0
    assert path.stat().st_size > 100_000
