"""RetinaFace (MobileNet-0.25 / ResNet-50, biubug6 ``Pytorch_Retinaface`` exports) from ONNX.

The graph takes a BGR image minus the per-channel means (104, 117, 123), NCHW, of any size,
and returns for each prior ``loc`` (K, 4), ``conf`` (K, 2: background, face; softmax applied)
and five landmarks (K, 10). Priors are the SSD-style boxes of that code: on the stride-8, 16
and 32 feature maps (``ceil(size / stride)`` cells), two square priors per cell with sides
16/32, 64/128 and 256/512 pixels, centred on the cell. Decoding uses the variances (0.1, 0.2):
centre = prior centre + loc[:2]·0.1·prior size, size = prior size·exp(loc[2:]·0.2), landmark
= prior centre + offset·0.1·prior size. Landmarks come in faceprint's order.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from faceprint._onnx import check_options, checked_file
from faceprint.detect._onnx_common import Decoded, OnnxDetector
from faceprint.errors import ModelError

if TYPE_CHECKING:
    from faceprint.packs.spec import PackSpec

__all__ = ["RetinaFaceDetector", "create", "priors"]

MIN_SIZES = ((16, 32), (64, 128), (256, 512))
STEPS = (8, 16, 32)
VARIANCES = (0.1, 0.2)
BGR_MEAN = np.array([104.0, 117.0, 123.0], np.float32)


def priors(height: int, width: int) -> npt.NDArray[np.float32]:
    """(K, 4) priors ``cx, cy, w, h`` in pixels for a ``height`` × ``width`` input."""
    parts = []
    for step, sizes in zip(STEPS, MIN_SIZES):
        fh, fw = -(-height // step), -(-width // step)
        ys, xs = np.mgrid[:fh, :fw]
        centres = (np.stack([xs, ys], axis=-1).reshape(-1, 1, 2) + 0.5) * step
        wh = np.broadcast_to(np.array(sizes, np.float32)[None, :, None], (fh * fw, len(sizes), 2))
        cells = np.broadcast_to(centres, (fh * fw, len(sizes), 2))
        parts.append(np.concatenate([cells, wh], axis=-1).reshape(-1, 4))
    return np.concatenate(parts).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _cached_priors(height: int, width: int) -> npt.NDArray[np.float32]:
    """:func:`priors`, computed once per input size (read only)."""
    out = priors(height, width)
    out.flags.writeable = False
    return out


class RetinaFaceDetector(OnnxDetector):
    """RetinaFace with five landmarks (options: see
    :class:`~faceprint.detect._onnx_common.OnnxDetector`; score threshold 0.8, NMS IoU 0.4)."""

    name = "retinaface"

    default_score_threshold = 0.8
    default_nms_threshold = 0.4

    def _check_model(self) -> int:
        if len(self.model.outputs) != 3 or len(self.model.input.shape) != 4:
            raise ModelError(
                f"{self.model.path} does not look like a RetinaFace model: expected one NCHW input "
                f"and 3 outputs (loc, conf, landmarks), got {len(self.model.outputs)} outputs"
            )
        return 32

    def _preprocess(self, canvas: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        blob = canvas[:, :, ::-1].astype(np.float32) - BGR_MEAN
        return blob.transpose(2, 0, 1)[None]

    def _decode(self, outputs: list[npt.NDArray[np.float32]], height: int, width: int) -> Decoded:
        loc, conf, landms = (o.reshape(o.shape[-2], o.shape[-1]) for o in outputs)
        pri = self._priors(height, width)
        if len(pri) != len(loc):
            raise ModelError(f"{self.model.path}: {len(loc)} predictions for {len(pri)} priors")
        keep = np.flatnonzero(conf[:, 1] >= self.score_threshold)
        boxes, points = _decode(loc[keep], landms[keep], pri[keep])
        return boxes, conf[keep, 1], points

    def _priors(self, height: int, width: int) -> npt.NDArray[np.float32]:
        return _cached_priors(height, width)

    def __repr__(self) -> str:
        return (
            f"RetinaFaceDetector({self.model.path.name!r}, input_size={self.input_size}, "
            f"score_threshold={self.score_threshold}, nms_threshold={self.nms_threshold})"
        )


def _decode(
    loc: npt.NDArray[np.float32], landms: npt.NDArray[np.float32], pri: npt.NDArray[np.float32]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    centre = pri[:, :2] + loc[:, :2] * VARIANCES[0] * pri[:, 2:]
    size = pri[:, 2:] * np.exp(loc[:, 2:] * VARIANCES[1])
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    points = pri[:, None, :2] + landms.reshape(-1, 5, 2) * VARIANCES[0] * pri[:, None, 2:]
    return boxes.astype(np.float32), points.astype(np.float32)


def create(pack: PackSpec, **options: Any) -> RetinaFaceDetector:
    check_options(RetinaFaceDetector, options)
    return RetinaFaceDetector(str(checked_file(pack, "detector")), **options)
