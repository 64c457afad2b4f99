"""A weightless stand-in for a model pack, for gallery tests (also used by subprocesses).

"Faces" are bright uniform squares on a black image: the fake detector finds each square, and
the fake embedder maps a crop's colour to a fixed unit vector, so one colour is one person.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from faceprint.align import DLIB_150
from faceprint.detect.base import Detector
from faceprint.embed.base import Embedder
from faceprint.pipeline import FaceAnalyzer
from faceprint.types import Faces

DIM = 128
#: landmark positions inside a square face, as fractions of its side
_MARKS = np.asarray(DLIB_150.template, np.float32) / DLIB_150.size


class SquareDetector(Detector):
    """Every connected non-black region's bounding box is a face."""

    name = "squares"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def detect(self, image: npt.NDArray[np.uint8]) -> Faces:
        if self.delay:
            time.sleep(self.delay)
        mask = (image.max(axis=2) > 30).astype(np.uint8)
        n, _labels, stats, _c = cv2.connectedComponentsWithStats(mask)
        boxes = [(x, y, x + w, y + h) for x, y, w, h, area in stats[1:n] if area >= 64]
        if not boxes:
            return Faces.empty()
        b = np.asarray(boxes, np.float32)
        side = (b[:, 2:3] - b[:, 0:1])[:, :, None]
        marks = b[:, None, :2] + _MARKS[None] * side
        return Faces(b, np.ones(len(b)), marks)


class ColourEmbedder(Embedder):
    """Unit vector of a fixed random projection of the crop's mean colour."""

    name = "colour"
    dim = DIM
    crop = DLIB_150

    def __init__(self) -> None:
        super().__init__(batch_size=8)
        self._w = np.random.default_rng(7).normal(size=(DIM, 3)).astype(np.float32)

    def _embed_batch(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        c = crops.shape[1] // 2
        colour = crops[:, c - 10 : c + 10, c - 10 : c + 10].reshape(len(crops), -1, 3).mean(1)
        centred = colour.astype(np.float32) / 255.0 - 0.5
        return centred @ self._w.T  # type: ignore[no-any-return]


def fake_analyzer(delay: float = 0.0) -> FaceAnalyzer:
    """A FaceAnalyzer of the "dlib" pack (128-d) with the fake detector and embedder."""
    return FaceAnalyzer("dlib", detector=SquareDetector(delay), embedder=ColourEmbedder())


#: colours of the fake people
PEOPLE: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40),
    "green": (40, 230, 40),
    "blue": (40, 40, 230),
    "yellow": (230, 230, 40),
    "cyan": (40, 230, 230),
}


def face_image(
    squares: list[tuple[tuple[int, int, int], int, int, int]], size: tuple[int, int] = (200, 300)
) -> npt.NDArray[np.uint8]:
    """A black RGB image with squares (colour, x, y, side)."""
    img = np.zeros((*size, 3), np.uint8)
    for colour, x, y, side in squares:
        img[y : y + side, x : x + side] = colour
    return img


def write_image(path: Path, image: npt.NDArray[np.uint8]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.ascontiguousarray(image[:, :, ::-1]))
    return path


def person_image(name: str, side: int = 60, x: int = 40) -> npt.NDArray[np.uint8]:
    return face_image([(PEOPLE[name], x, 40, side)])


def make_folders(root: Path, per_person: int = 2) -> Path:
    """root/NAME/k.png for every fake person."""
    for name in PEOPLE:
        for k in range(per_person):
            write_image(root / name / f"{k}.png", person_image(name, 50 + 10 * k, 20 + 5 * k))
    return root
