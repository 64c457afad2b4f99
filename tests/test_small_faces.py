"""Small faces: crops of faces enlarged >= BICUBIC_FROM_SCALE times are interpolated bicubically."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from faceprint.align import (
    BICUBIC_FROM_SCALE,
    DLIB_150,
    align_faces,
    interpolation_for,
    similarity_transform,
)
from faceprint.imageio import load_image
from faceprint.pipeline import FaceAnalyzer, select_face


def similarity(scale: float, angle: float = 0.3) -> npt.NDArray[np.float64]:
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    return np.array([[c, -s, 5.0], [s, c, -3.0]])


@pytest.mark.parametrize(
    ("scale", "flag"),
    [
        (2.0, cv2.INTER_CUBIC),
        (BICUBIC_FROM_SCALE + 0.001, cv2.INTER_CUBIC),
        (BICUBIC_FROM_SCALE - 0.001, cv2.INTER_LINEAR),
        (1.2, cv2.INTER_LINEAR),
        (0.3, cv2.INTER_LINEAR),
    ],
)
def test_interpolation_by_enlargement(scale: float, flag: int) -> None:
    assert interpolation_for(similarity(scale)) == flag
    assert interpolation_for(similarity(scale, angle=-1.2)) == flag  # rotation does not count


def face_landmarks(centre: tuple[float, float], eye_distance: float) -> npt.NDArray[np.float64]:
    """Landmarks shaped like DLIB_150's template, scaled to ``eye_distance``, at ``centre``."""
    t = DLIB_150.template_array()
    k = eye_distance / np.linalg.norm(t[1] - t[0])
    return (t - t.mean(0)) * k + np.asarray(centre)


@pytest.mark.parametrize(
    ("eye_distance", "flag"), [(20.0, cv2.INTER_CUBIC), (80.0, cv2.INTER_LINEAR)]
)
def test_align_faces_uses_the_interpolation_of_the_scale(eye_distance: float, flag: int) -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (200, 240, 3), dtype=np.uint8)
    marks = face_landmarks((120, 100), eye_distance)
    crop = align_faces(image, marks[None], DLIB_150)[0]
    m = similarity_transform(marks, DLIB_150.template_array())
    expected = cv2.warpAffine(image, m, (150, 150), flags=flag, borderMode=cv2.BORDER_REPLICATE)
    np.testing.assert_array_equal(crop, expected)


@pytest.mark.data
def test_small_face_crops_are_closer_to_the_full_size_crop(data_dir: Path) -> None:
    """LFW faces at 150×150 against the same faces at 250×250, aligned with the same
    landmarks: the bicubic crop of the small face is nearer the full-size crop than the
    bilinear one (the blur bilinear enlargement adds)."""
    fa = FaceAnalyzer("dlib")
    root = data_dir / "lfw" / "images_deepfunneled"
    people = sorted(p for p in root.iterdir() if p.is_dir())[::200][:25]
    t = DLIB_150.template_array()
    closer = []
    for person in people:
        rgb = load_image(sorted(person.glob("*.jpg"))[0])
        faces = fa.detect(rgb)
        if len(faces) == 0:
            continue
        marks = faces.landmarks[select_face(faces, "largest")].astype(np.float64)
        reference = align_faces(rgb, marks[None], DLIB_150)[0].astype(np.float64)
        small = cv2.resize(rgb, (150, 150), interpolation=cv2.INTER_AREA)
        m = similarity_transform((marks + 0.5) * 0.6 - 0.5, t)
        assert interpolation_for(m) == cv2.INTER_CUBIC
        errors = [
            np.mean((cv2.warpAffine(small, m, (150, 150), flags=f) - reference) ** 2)
            for f in (cv2.INTER_CUBIC, cv2.INTER_LINEAR)
        ]
        closer.append(errors[0] < errors[1])
    assert len(closer) >= 20
    assert np.mean(closer) >= 0.8, closer
