"""YuNet (libfacedetection, OpenCV zoo) face detector with five landmarks, run by onnxruntime.

Supports the 2023 graph layout (``face_detection_yunet_2023mar.onnx``, ``yunet_n/s_*.onnx``):
12 outputs, per stride 8/16/32 a class score, an objectness, a box (4) and five landmarks (10).
The decoding is that of OpenCV's ``cv::FaceDetectorYN``: score = sqrt(cls · obj) (both clipped
to [0, 1]); for the cell at column ``c``, row ``r``: centre = (c + b[0], r + b[1])·stride,
size = exp(b[2:4])·stride, landmark k = (c + l[2k], r + l[2k+1])·stride. Input: the image as
BGR float 0–255 (no normalisation), NCHW.

Landmark order: YuNet lists the subject's right eye, left eye, nose tip, right and left mouth
corners; the subject's right is the image's left, so this is faceprint's order unchanged.

A graph with a fixed input (the 2023mar file: 640×640) gets the image letterboxed into it; a
dynamic graph uses ``input_size``, or with ``None`` the image's own size padded to a multiple
of 32, as OpenCV does. Images larger than the input are shrunk to fit; smaller ones keep their
size (enlarged only with ``upscale=True``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from faceprint._onnx import check_options, checked_file
from faceprint.detect._onnx_common import Decoded, OnnxDetector
from faceprint.errors import ModelError

if TYPE_CHECKING:
    from faceprint.packs.spec import PackSpec

__all__ = ["YuNetDetector", "create"]

STRIDES = (8, 16, 32)


class YuNetDetector(OnnxDetector):
    """YuNet (options: see :class:`~faceprint.detect._onnx_common.OnnxDetector`).

    The score threshold is 0.8 (OpenCV's default is 0.9): at 0.8 both YuNet files find all 43
    annotated faces of dlib's test photos (at 0.9 the 2023mar file misses 6) with no detection
    in the negatives (docs/benchmarks/detectors.md); NMS at IoU 0.3, as OpenCV.
    """

    name = "yunet"

    default_score_threshold = 0.8
    default_nms_threshold = 0.3

    def _check_model(self) -> int:
        if len(self.model.outputs) != 12 or len(self.model.input.shape) != 4:
            raise ModelError(
                f"{self.model.path} does not look like a YuNet 2023 model: expected one NCHW input "
                f"and 12 outputs (cls, obj, bbox, kps per stride), got "
                f"{len(self.model.outputs)} outputs"
            )
        return 32

    def _preprocess(self, canvas: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        return canvas[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32)

    def _decode(self, outputs: list[npt.NDArray[np.float32]], height: int, width: int) -> Decoded:
        parts = [self._decode_stride(outputs, i, width) for i in range(len(STRIDES))]
        boxes, scores, kps = (np.concatenate(p) for p in zip(*parts))
        return boxes, scores, kps

    def _decode_stride(
        self, outputs: list[npt.NDArray[np.float32]], i: int, width: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        n = len(STRIDES)
        stride = STRIDES[i]
        cls = np.clip(outputs[i].reshape(-1), 0, 1)
        obj = np.clip(outputs[i + n].reshape(-1), 0, 1)
        scores = np.sqrt(cls * obj)
        keep = np.flatnonzero(scores >= self.score_threshold)
        cols = width // stride
        if len(cls) % cols:
            raise ModelError(f"{self.model.path}: stride-{stride} output does not fit the input")
        cells = np.stack([keep % cols, keep // cols], axis=1).astype(np.float32)
        b = outputs[i + 2 * n].reshape(-1, 4)[keep]
        centre = (cells + b[:, :2]) * stride
        size = np.exp(b[:, 2:]) * stride
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
        k = outputs[i + 3 * n].reshape(-1, 5, 2)[keep]
        kps = (cells[:, None, :] + k) * stride
        return boxes.astype(np.float32), scores[keep], kps.astype(np.float32)

    def __repr__(self) -> str:
        return (
            f"YuNetDetector({self.model.path.name!r}, input_size={self.input_size}, "
            f"score_threshold={self.score_threshold}, nms_threshold={self.nms_threshold})"
        )


def create(pack: PackSpec, **options: Any) -> YuNetDetector:
    check_options(YuNetDetector, options)
    return YuNetDetector(str(checked_file(pack, "detector")), **options)
