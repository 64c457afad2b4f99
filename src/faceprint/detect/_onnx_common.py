"""Pre- and post-processing shared by the ONNX detectors: letterboxing, NMS, mapping back.

Sizes are ``(width, height)`` like OpenCV's and insightface's ``det_size``.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from faceprint._onnx import OnnxModel
from faceprint.detect.base import Detector, check_image
from faceprint.errors import ImageError, InvalidArgumentError, ModelError, map_exceptions
from faceprint.types import Faces

__all__ = ["Letterbox", "OnnxDetector", "letterbox", "nms_faces", "resolve_input_size"]

Size = tuple[int, int]


@dataclass(frozen=True)
class Letterbox:
    """An image resized into a network input.

    Attributes:
        canvas: ``(H, W, 3)`` uint8, the image at the top-left, zero padding right and below.
        scale: ``(sx, sy)``, canvas pixels per original pixel; divide network coordinates by it.
    """

    canvas: npt.NDArray[np.uint8]
    scale: tuple[float, float]


def letterbox(
    image: npt.NDArray[np.uint8],
    size: Size | None,
    *,
    stride: int = 32,
    upscale: bool = False,
    fill: bool = True,
) -> Letterbox:
    """``image`` fitted into ``size`` keeping its aspect ratio (``None``: kept as it is), at the
    top-left of a zero canvas.

    A smaller image is enlarged to fit only with ``upscale``; by default it keeps its resolution,
    so that a close-up (an ID photo, a 250×250 LFW crop) does not become a face larger than the
    detector's biggest anchors. With ``fill`` the canvas is ``size`` (a graph with a fixed input
    needs that); otherwise it is the scaled image padded to a multiple of ``stride`` (less work).
    """
    h, w = image.shape[:2]
    ratio = 1.0 if size is None else min(size[0] / w, size[1] / h)
    if ratio > 1 and not upscale:
        ratio = 1.0
    new_w, new_h = max(1, round(w * ratio)), max(1, round(h * ratio))
    if size is not None and fill:
        out_w, out_h = size
    else:
        out_w, out_h = -(-new_w // stride) * stride, -(-new_h // stride) * stride
    canvas = np.zeros((out_h, out_w, 3), np.uint8)
    resized = image if (new_w, new_h) == (w, h) else cv2.resize(image, (new_w, new_h))
    canvas[:new_h, :new_w] = resized
    return Letterbox(canvas, (new_w / w, new_h / h))


def resolve_input_size(
    requested: Size | None, graph_hw: tuple[int | None, int | None], *, stride: int, model: str
) -> Size | None:
    """The input size to use: the graph's when it is fixed, else ``requested``.

    Raises:
        ValueError: a size not divisible by ``stride``, or one that contradicts a fixed graph.
    """
    gh, gw = graph_hw
    if gh is not None and gw is not None:
        if requested is not None and tuple(requested) != (gw, gh):
            raise InvalidArgumentError(
                f"{model} has a fixed {gw}x{gh} input; input_size={requested} cannot be used "
                f"(leave it out or pass ({gw}, {gh}))"
            )
        return (gw, gh)
    if requested is None:
        return None
    w, h = requested
    if w <= 0 or h <= 0 or w % stride or h % stride:
        raise InvalidArgumentError(
            f"input_size must be positive multiples of {stride}, got {requested}"
        )
    return (int(w), int(h))


def nms_faces(
    boxes: npt.NDArray[np.float32],
    scores: npt.NDArray[np.float32],
    landmarks: npt.NDArray[np.float32],
    *,
    iou_threshold: float,
    scale: tuple[float, float],
    max_faces: int = 0,
) -> Faces:
    """Non-maximum suppression (``cv2.dnn.NMSBoxes``), best first, mapped back by ``scale``.

    ``boxes`` (N, 4) are x1, y1, x2, y2 and ``landmarks`` (N, 5, 2) in network-input pixels;
    candidates are already filtered by score. ``max_faces`` > 0 keeps only the best ones.
    """
    if len(boxes) == 0:
        return Faces.empty()
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    keep = cv2.dnn.NMSBoxes(
        xywh.astype(np.float64).tolist(), scores.astype(np.float64).tolist(), 0.0, iou_threshold
    )
    idx = np.asarray(keep, dtype=np.int64).reshape(-1)
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    if max_faces > 0:
        idx = idx[:max_faces]
    per_px = np.array([scale[0], scale[1]], np.float32)
    return Faces(
        np.divide(boxes[idx], np.tile(per_px, 2)),
        scores[idx],
        np.divide(landmarks[idx], per_px),
    )


Decoded = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]


class OnnxDetector(Detector):
    """What the ONNX detectors share: the session, the options and the whole of :meth:`detect`.

    :meth:`detect` is a template: it checks the image, letterboxes it into the input size, runs
    the graph on the backend's :meth:`_preprocess` of the canvas, lets the backend
    :meth:`_decode` the outputs into candidates above the score threshold, and applies NMS and
    the mapping back to image pixels. A backend supplies only those two steps and
    :meth:`_check_model`, which raises ``ModelError`` for a file that is not its kind of model
    and returns the largest stride, to which input sizes are rounded.

    Args:
        model_path: the ``.onnx`` file.
        input_size: ``(width, height)`` the image is letterboxed into (multiples of 32) for a
            graph with a dynamic input; ``None``: the image's own size padded to a multiple of
            32. A graph with a fixed input always uses its own size.
        score_threshold: minimum face score (``None``: the backend's
            :attr:`default_score_threshold`).
        nms_threshold: IoU above which the weaker of two boxes is dropped (``None``: the
            backend's :attr:`default_nms_threshold`).
        max_faces: keep at most this many faces, best first (0: all).
        upscale: enlarge images smaller than ``input_size`` to fill it (finds smaller faces in
            small images; misses close-ups whose face then outgrows the anchors). Off: small
            images are only padded.
        threads: onnxruntime intra-op threads (``None``: one per core).
    """

    #: the backend's score threshold when none is given
    default_score_threshold: float = 0.5
    #: the backend's NMS IoU threshold when none is given
    default_nms_threshold: float = 0.4

    def __init__(
        self,
        model_path: str,
        *,
        input_size: Size | None = (640, 640),
        score_threshold: float | None = None,
        nms_threshold: float | None = None,
        max_faces: int = 0,
        upscale: bool = False,
        threads: int | None = None,
    ) -> None:
        if score_threshold is None:
            score_threshold = self.default_score_threshold
        if nms_threshold is None:
            nms_threshold = self.default_nms_threshold
        _check_detector_options(score_threshold, nms_threshold, max_faces)
        self.model = OnnxModel(model_path, threads=threads)
        stride = self._check_model()
        self._stride = stride
        shape = self.model.input.shape
        self.input_size = resolve_input_size(
            input_size, (shape[2], shape[3]), stride=stride, model=str(model_path)
        )
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.max_faces = max_faces
        self.upscale = upscale
        self._fixed = shape[2] is not None and shape[3] is not None

    @abstractmethod
    def _check_model(self) -> int:
        """Raise ``ModelError`` unless ``self.model`` is this backend's model; the largest stride."""

    @abstractmethod
    def _preprocess(self, canvas: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """The graph's input (1, 3, H, W) for the letterboxed RGB ``canvas`` (H, W, 3)."""

    @abstractmethod
    def _decode(self, outputs: list[npt.NDArray[np.float32]], height: int, width: int) -> Decoded:
        """Candidates above ``score_threshold`` from the outputs for a ``height`` × ``width``
        canvas: boxes (K, 4), scores (K,) and landmarks (K, 5, 2), in canvas pixels."""

    def detect(self, image: npt.NDArray[np.uint8]) -> Faces:
        """Every face in the RGB ``image``, best first (see the class docstring)."""
        image = check_image(image)
        with map_exceptions({cv2.error: ImageError}, what="letterbox the image"):
            lb = letterbox(
                image, self.input_size, stride=self._stride, upscale=self.upscale, fill=self._fixed
            )
        outputs = self.model.run(np.ascontiguousarray(self._preprocess(lb.canvas)))
        boxes, scores, points = self._decode(outputs, *lb.canvas.shape[:2])
        with map_exceptions({cv2.error: ModelError}, what="suppress overlapping boxes"):
            return nms_faces(
                boxes,
                scores,
                points,
                iou_threshold=self.nms_threshold,
                scale=lb.scale,
                max_faces=self.max_faces,
            )


def _check_detector_options(score_threshold: float, nms_threshold: float, max_faces: int) -> None:
    if not 0.0 <= score_threshold <= 1.0:
        raise InvalidArgumentError(f"score_threshold must be in [0, 1], got {score_threshold}")
    if not 0.0 < nms_threshold <= 1.0:
        raise InvalidArgumentError(f"nms_threshold must be in (0, 1], got {nms_threshold}")
    if max_faces < 0:
        raise InvalidArgumentError(f"max_faces must be >= 0 (0: all), got {max_faces}")
