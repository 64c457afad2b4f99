"""Weightless model pack for evaluation tests: bright squares are faces, colour is identity.

The detector finds squares of at least ``40 / upsample`` pixels, so a small square is only found
with more upsampling (as with a real detector); the embedder maps a crop's colour to a vector.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from faceprint.align import DLIB_150
from faceprint.detect.base import Detector
from faceprint.embed.base import Embedder
from faceprint.evaluate.cache import EmbeddingCache
from faceprint.packs.registry import PackSpec
from faceprint.types import Faces

DIM = 8
_MARKS = np.asarray(DLIB_150.template, np.float32) / DLIB_150.size


class SquareDetector(Detector):
    name = "fake-squares"

    def __init__(self, upsample: int = 1) -> None:
        self.upsample = upsample
        self.calls = 0

    def detect(self, image: npt.NDArray[np.uint8]) -> Faces:
        self.calls += 1
        mask = (image.max(axis=2) > 30).astype(np.uint8)
        n, _l, stats, _c = cv2.connectedComponentsWithStats(mask)
        side_min = 40 / max(self.upsample, 1)
        boxes = [(x, y, x + w, y + h) for x, y, w, h, _a in stats[1:n] if w >= side_min]
        if not boxes:
            return Faces.empty()
        b = np.asarray(boxes, np.float32)
        side = (b[:, 2:3] - b[:, 0:1])[:, :, None]
        return Faces(b, np.ones(len(b)), b[:, None, :2] + _MARKS[None] * side)


class ColourEmbedder(Embedder):
    name = "fake-colour"
    dim = DIM
    crop = DLIB_150

    def _embed_batch(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        c = crops.shape[1] // 2
        colour = crops[:, c - 5 : c + 5, c - 5 : c + 5].reshape(len(crops), -1, 3).mean(1)
        w = np.random.default_rng(3).normal(size=(DIM, 3)).astype(np.float32)
        return (colour.astype(np.float32) / 255 - 0.5) @ w.T  # type: ignore[no-any-return]


def create_detector(pack: PackSpec, **options: Any) -> SquareDetector:
    return SquareDetector(**options)


def create_embedder(pack: PackSpec, **options: Any) -> ColourEmbedder:
    return ColourEmbedder(**options)


def fake_pack() -> PackSpec:
    return PackSpec(
        name="fake",
        detector="fake-squares",
        embedder="fake-colour",
        dim=DIM,
        threshold=0.5,
        crop=DLIB_150,
        licence="test",
        detector_options={"upsample": 1},
    )


def write_square(path: Path, colour: tuple[int, int, int], side: int, x: int = 30) -> Path:
    img = np.zeros((120, 160, 3), np.uint8)
    img[30 : 30 + side, x : x + side] = colour
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.ascontiguousarray(img[:, :, ::-1]))
    return path


def write_embeddings(args: tuple[str, int]) -> int:
    """Child process: store 200 embeddings under its own prefix (cache concurrency test)."""
    path, worker = args
    with EmbeddingCache(path) as cache:
        for batch in range(20):
            vecs = {f"w{worker}-{batch}-{k}": np.full(4, k, np.float32) for k in range(10)}
            cache.put_embeddings("emb-test", vecs)
    return worker
