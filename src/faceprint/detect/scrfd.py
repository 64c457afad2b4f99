"""SCRFD (insightface) face detector with five keypoints, from an ONNX file.

Works with insightface's exports (``det_10g.onnx``, ``det_2.5g.onnx``, ``det_500m.onnx``) and
with ``scrfd_*_bnkps.onnx`` files, fixed or dynamic input size, with or without a batch axis in
the outputs. The graph has, per stride, a score (``K``, 1), a box-distance (``K``, 4) and a
keypoint-distance (``K``, 10) output: 9 outputs for strides 8/16/32, 15 for 8/16/32/64/128.
The number of anchors per feature-map cell is read from the output lengths
(``K / (H/stride · W/stride)``; 2 for insightface's models).

Decoding (insightface's ``distance2bbox`` / ``distance2kps``): each anchor centre ``c`` is the
cell's top-left corner times the stride; a box is ``c - d[0:2]·stride, c + d[2:4]·stride`` and
keypoint ``k`` is ``c + d[2k:2k+2]·stride``. Input: the RGB image letterboxed into
``input_size``, normalised ``(x - 127.5) / 128``, NCHW. Keypoints come in faceprint's order.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from faceprint._onnx import check_options, checked_file
from faceprint.detect._onnx_common import Decoded, OnnxDetector
from faceprint.errors import ModelError

if TYPE_CHECKING:
    from faceprint.packs.spec import PackSpec

__all__ = ["ScrfdDetector", "create", "distance2bbox", "distance2kps"]

logger = logging.getLogger(__name__)

_STRIDES = {9: (8, 16, 32), 15: (8, 16, 32, 64, 128)}


def distance2bbox(
    centres: npt.NDArray[np.float32], distance: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Boxes (K, 4) x1, y1, x2, y2 from anchor centres (K, 2) and distances (K, 4) in pixels."""
    return np.concatenate([centres - distance[:, :2], centres + distance[:, 2:]], axis=1)


def distance2kps(
    centres: npt.NDArray[np.float32], distance: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Keypoints (K, P, 2) from anchor centres (K, 2) and offsets (K, 2P) in pixels."""
    return centres[:, None, :] + distance.reshape(len(distance), -1, 2)


def anchor_centres(
    height: int, width: int, stride: int, num_anchors: int
) -> npt.NDArray[np.float32]:
    """(height·width·num_anchors, 2) anchor centres, row-major, the anchors of a cell adjacent."""
    ys, xs = np.mgrid[:height, :width]
    centres = (np.stack([xs, ys], axis=-1).reshape(-1, 2) * stride).astype(np.float32)
    return np.repeat(centres, num_anchors, axis=0)


@functools.lru_cache(maxsize=64)
def _cached_anchors(
    height: int, width: int, stride: int, num_anchors: int
) -> npt.NDArray[np.float32]:
    """:func:`anchor_centres`, computed once per feature map (read only)."""
    out = anchor_centres(height, width, stride, num_anchors)
    out.flags.writeable = False
    return out


class ScrfdDetector(OnnxDetector):
    """SCRFD with keypoints (options: see :class:`~faceprint.detect._onnx_common.OnnxDetector`;
    score threshold 0.5, NMS IoU 0.4)."""

    name = "scrfd"

    default_score_threshold = 0.5
    default_nms_threshold = 0.4
    _strides: tuple[int, ...] = ()

    def _check_model(self) -> int:
        self._strides = self._check_outputs()
        return max(self._strides)

    def _check_outputs(self) -> tuple[int, ...]:
        n = len(self.model.outputs)
        if n in (6, 10):
            raise ModelError(
                f"{self.model.path} is an SCRFD model without keypoints; faceprint needs the five "
                "landmarks to align faces: use a keypoint model (*_kps / *_bnkps, det_10g.onnx)"
            )
        if n not in _STRIDES or len(self.model.input.shape) != 4:
            raise ModelError(
                f"{self.model.path} does not look like an SCRFD model: expected one NCHW input "
                f"and 9 or 15 outputs, got {len(self.model.inputs)} input(s) and {n} outputs"
            )
        return _STRIDES[n]

    def _preprocess(self, canvas: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        blob = (canvas.astype(np.float32) - 127.5) / 128.0
        return blob.transpose(2, 0, 1)[None]

    def _decode(self, outputs: list[npt.NDArray[np.float32]], height: int, width: int) -> Decoded:
        fmc = len(self._strides)
        all_boxes, all_scores, all_kps = [], [], []
        for i, stride in enumerate(self._strides):
            scores = outputs[i].reshape(-1)
            keep = np.flatnonzero(scores >= self.score_threshold)
            if len(keep) == 0:
                continue
            centres = self._anchors(height, width, stride, len(scores))[keep]
            dist = outputs[i + fmc].reshape(-1, 4)[keep] * stride
            kdist = outputs[i + 2 * fmc].reshape(-1, 10)[keep] * stride
            all_boxes.append(distance2bbox(centres, dist))
            all_kps.append(distance2kps(centres, kdist))
            all_scores.append(scores[keep])
        if not all_scores:
            return (
                np.zeros((0, 4), np.float32),
                np.zeros(0, np.float32),
                np.zeros((0, 5, 2), np.float32),
            )
        return np.concatenate(all_boxes), np.concatenate(all_scores), np.concatenate(all_kps)

    def _anchors(self, height: int, width: int, stride: int, count: int) -> npt.NDArray[np.float32]:
        fh, fw = -(-height // stride), -(-width // stride)
        if count % (fh * fw):
            raise ModelError(
                f"{self.model.path}: stride-{stride} output has {count} rows, not a multiple of "
                f"its {fw}x{fh} feature map; is this an SCRFD model?"
            )
        return _cached_anchors(fh, fw, stride, count // (fh * fw))

    def __repr__(self) -> str:
        return (
            f"ScrfdDetector({self.model.path.name!r}, input_size={self.input_size}, "
            f"score_threshold={self.score_threshold}, nms_threshold={self.nms_threshold})"
        )


def create(pack: PackSpec, **options: Any) -> ScrfdDetector:
    check_options(ScrfdDetector, options)
    return ScrfdDetector(str(checked_file(pack, "detector")), **options)
