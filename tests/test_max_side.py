"""FaceAnalyzer(max_side=...): detection on a downscaled copy, results in full-resolution pixels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from _gallery_fakes import ColourEmbedder, SquareDetector, face_image
from faceprint.errors import InvalidArgumentError
from faceprint.imageio import load_image
from faceprint.pipeline import DEFAULT_MAX_SIDE, FaceAnalyzer
from faceprint.types import Faces


class RecordingDetector(SquareDetector):
    """The fake square detector, remembering the shape of every image it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def detect(self, image: npt.NDArray[np.uint8]) -> Faces:
        self.shapes.append(image.shape)
        return super().detect(image)


def analyzer(max_side: int | None) -> tuple[FaceAnalyzer, RecordingDetector]:
    det = RecordingDetector()
    return FaceAnalyzer("dlib", detector=det, embedder=ColourEmbedder(), max_side=max_side), det


class NearDetector(SquareDetector):
    """The fake square detector, remembering the boxes each near search was given."""

    def __init__(self) -> None:
        super().__init__()
        self.near: list[npt.NDArray[np.float32]] = []

    def detect_near(self, image: npt.NDArray[np.uint8], near: npt.NDArray[np.float32]) -> Faces:
        self.near.append(np.array(near))
        return self.detect(image)


def test_near_boxes_are_mapped_to_the_downscaled_copy_and_back() -> None:
    det = NearDetector()
    fa = FaceAnalyzer("dlib", detector=det, embedder=ColourEmbedder(), max_side=1000)
    faces = fa.detect_near(big_image(), [[300, 200, 700, 600]])
    np.testing.assert_allclose(det.near[0], [[100, 200 / 3, 700 / 3, 200]], rtol=1e-3)
    np.testing.assert_allclose(faces.boxes, fa.detect(big_image()).boxes)


def test_a_detector_without_a_near_search_searches_everything() -> None:
    fa, det = analyzer(None)
    faces = fa.detect_near(big_image(), np.zeros((0, 4), np.float32))
    assert len(faces) == 3 and len(det.shapes) == 1


def big_image() -> npt.NDArray[np.uint8]:
    """3000×2000 with three squares of 400, 240 and 120 px."""
    squares = [((230, 40, 40), 300, 200, 400), ((40, 230, 40), 1500, 900, 240)]
    return face_image([*squares, ((40, 40, 230), 2600, 1600, 120)], size=(2000, 3000))


def test_large_image_is_detected_downscaled_and_mapped_back() -> None:
    fa, det = analyzer(1000)
    faces = fa.detect(big_image())
    assert det.shapes == [(667, 1000, 3)]
    full, _ = analyzer(None)
    ref = full.detect(big_image())
    assert len(faces) == len(ref) == 3
    order = np.argsort(faces.boxes[:, 0])
    np.testing.assert_allclose(faces.boxes[order], ref.boxes[np.argsort(ref.boxes[:, 0])], atol=4)
    np.testing.assert_allclose(
        faces.landmarks[order], ref.landmarks[np.argsort(ref.boxes[:, 0])], atol=4
    )


def test_crops_come_from_the_full_resolution_image() -> None:
    fa, _ = analyzer(1000)
    img = big_image()
    img[200:600, 300:700][::2, ::2] = (250, 250, 250)  # fine detail lost by downscaling
    faces = fa.analyze(img)
    crop = fa.align(img, faces[[int(np.argmax(faces.areas))]])[0]
    assert crop.max() >= 240  # single bright pixels survive: sampled from the original


def test_images_within_max_side_are_left_alone() -> None:
    fa, det = analyzer(3000)
    fa.detect(big_image())
    assert det.shapes == [(2000, 3000, 3)]
    fa, det = analyzer(None)
    fa.detect(big_image())
    assert det.shapes == [(2000, 3000, 3)]


@pytest.mark.parametrize("bad", [0, 63, 100_001, -5])
def test_max_side_out_of_range_is_an_argument_error(bad: int) -> None:
    with pytest.raises(InvalidArgumentError, match="max_side must be between 64 and 100000"):
        analyzer(bad)


def test_default_max_side() -> None:
    fa = FaceAnalyzer("dlib", detector=SquareDetector(), embedder=ColourEmbedder())
    assert fa.max_side == DEFAULT_MAX_SIDE == 2048


@pytest.mark.data
@pytest.mark.slow
def test_12mp_photo_finds_the_face_found_at_native_size(photos: Path) -> None:
    """obama-1080p enlarged to 4000 px: the default analyzer finds the face on a 2048-px copy,
    where the native-size detection put it, and embeds it like the native photo."""
    native = load_image(photos / "obama-1080p.jpg")
    k = 4000 / native.shape[1]
    big = cv2.resize(native, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC)
    fa = FaceAnalyzer("dlib")
    ref, found = fa.analyze(native), fa.analyze(big)
    assert len(ref) == len(found) == 1
    box, expected = found.boxes[0], ref.boxes[0] * k
    inter = np.clip(np.minimum(box[2:], expected[2:]) - np.maximum(box[:2], expected[:2]), 0, None)
    union = np.prod(box[2:] - box[:2]) + np.prod(expected[2:] - expected[:2]) - np.prod(inter)
    assert np.prod(inter) / union > 0.7
    assert float(np.dot(ref.embeddings[0], found.embeddings[0])) > 0.97  # type: ignore[index]
