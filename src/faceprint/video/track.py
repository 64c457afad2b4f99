"""Following faces between detections: a constant-velocity Kalman filter per face and
ByteTrack-style two-stage IoU association, plus shot-cut detection.

Detection runs on some frames only; between them :meth:`FaceTracker.predict` moves each track's
box with its filter. At a detection frame :meth:`FaceTracker.update` matches the confident
detections to the predicted boxes first (Hungarian assignment on ``1 - IoU``), then the weak
ones to the tracks still unmatched (weak detections never start a track), starts tracks from
the confident detections left over, and ends the tracks not matched for ``max_lost`` seconds.
Time steps are in seconds, so variable frame rates and irregular detection intervals are
handled by the filter. :class:`ShotDetector` flags cuts from the change of the colour histogram
so that tracks are split where the picture changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["FaceTracker", "KalmanBox", "ShotDetector", "TrackState", "iou_matrix"]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


def iou_matrix(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """(len(a), len(b)) intersection over union of boxes ``x1, y1, x2, y2``."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


class KalmanBox:
    """Constant-velocity Kalman filter of a box as centre, width and height (pixels) and their
    velocities (pixels per second)."""

    def __init__(self, box: npt.ArrayLike, time: float) -> None:
        x1, y1, x2, y2 = np.asarray(box, np.float64)
        self.x = np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, 0, 0, 0, 0], float)
        size = max(x2 - x1, y2 - y1, 1.0)
        # position known to a quarter of the face; velocity unknown (up to ~5 faces per second)
        self.p = np.diag([size / 4] * 4 + [5 * size, 5 * size, 2 * size, 2 * size]) ** 2
        self.time = time
        self._size = size

    def predict(self, time: float) -> FloatArray:
        """Advance to ``time`` (seconds) and return the predicted box."""
        dt = max(0.0, time - self.time)
        if dt > 0:
            f = np.eye(8)
            f[:4, 4:] = np.eye(4) * dt
            q = np.diag([1, 1, 1, 1, 4, 4, 2, 2]) * (0.5 * self._size) ** 2 * dt
            self.x = f @ self.x
            self.p = f @ self.p @ f.T + q
            self.x[2:4] = np.maximum(self.x[2:4], 1.0)
            self.time = time
        return self.box()

    def update(self, box: npt.ArrayLike, time: float) -> None:
        """Correct with a detected box at ``time``."""
        self.predict(time)
        x1, y1, x2, y2 = np.asarray(box, np.float64)
        z = np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1])
        self._size = max(z[2], z[3], 1.0)
        h = np.zeros((4, 8))
        h[:, :4] = np.eye(4)
        r = np.eye(4) * (0.05 * self._size) ** 2
        s = h @ self.p @ h.T + r
        k = self.p @ h.T @ np.linalg.inv(s)
        self.x = self.x + k @ (z - h @ self.x)
        self.p = (np.eye(8) - k @ h) @ self.p

    def box(self) -> FloatArray:
        """The current box ``x1, y1, x2, y2``."""
        cx, cy, w, h = self.x[:4]
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


@dataclass
class TrackState:
    """A live track inside :class:`FaceTracker` (mutable; the caller reads it).

    Attributes:
        id: track id, unique within the tracker, in order of creation.
        filter: the box filter.
        first_seen / last_seen: times (seconds) of the first and the latest matched detection.
        hits: detections matched.
        matched_now: whether the latest :meth:`FaceTracker.update` matched it.
    """

    id: int
    filter: KalmanBox
    first_seen: float
    last_seen: float
    hits: int = 1
    matched_now: bool = True
    box: FloatArray = field(default_factory=lambda: np.zeros(4, np.float32))


class FaceTracker:
    """Kalman + IoU tracker with ByteTrack's two association stages.

    Args:
        iou_threshold: least IoU between a predicted box and a detection to match them.
        high_score: detections scoring at least this are confident: they are matched first
            and may start tracks; weaker ones only continue tracks.
        max_lost: seconds a track survives without a matched detection before it ends.
    """

    def __init__(
        self, *, iou_threshold: float = 0.2, high_score: float = 0.0, max_lost: float = 0.7
    ) -> None:
        self.iou_threshold = iou_threshold
        self.high_score = high_score
        self.max_lost = max_lost
        self.active: list[TrackState] = []
        self._next_id = 0

    def predict(self, time: float) -> list[TrackState]:
        """Move every live track to ``time``; returns them with their ``box`` set."""
        for track in self.active:
            track.box = track.filter.predict(time)
        return self.active

    def update(
        self, time: float, boxes: npt.ArrayLike, scores: npt.ArrayLike
    ) -> tuple[IntArray, list[TrackState]]:
        """Associate the detections of the frame at ``time``.

        Returns:
            The track id of each detection (-1: a weak detection matched to nothing) and the
            tracks that ended (not matched for more than ``max_lost`` seconds).
        """
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        scores = np.asarray(scores, np.float32).reshape(-1)
        self.predict(time)
        ids = np.full(len(boxes), -1, np.int64)
        for track in self.active:
            track.matched_now = False
        strong = np.flatnonzero(scores >= self.high_score)
        weak = np.flatnonzero(scores < self.high_score)
        left = self._associate(strong, boxes, list(self.active), time, ids)
        self._associate(weak, boxes, left, time, ids)
        for d in strong[ids[strong] < 0]:
            ids[d] = self._start(boxes[d], time).id
        return ids, self._expire(time)

    def finish(self) -> list[TrackState]:
        """End every live track (a shot cut or the end of the video); returns them."""
        ended, self.active = self.active, []
        return ended

    def _associate(
        self,
        dets: IntArray,
        boxes: FloatArray,
        tracks: list[TrackState],
        time: float,
        ids: IntArray,
    ) -> list[TrackState]:
        if len(dets) == 0 or not tracks:
            return tracks
        from scipy.optimize import linear_sum_assignment  # scipy is slow to import

        iou = iou_matrix(np.stack([t.box for t in tracks]), boxes[dets])
        rows, cols = linear_sum_assignment(1.0 - iou)
        used: set[int] = set()
        for r, c in zip(rows, cols):
            if iou[r, c] >= self.iou_threshold:
                track = tracks[r]
                track.filter.update(boxes[dets[c]], time)
                track.box = track.filter.box()
                track.last_seen, track.matched_now = time, True
                track.hits += 1
                ids[dets[c]] = track.id
                used.add(r)
        return [t for i, t in enumerate(tracks) if i not in used]

    def _start(self, box: FloatArray, time: float) -> TrackState:
        track = TrackState(self._next_id, KalmanBox(box, time), time, time, box=box.copy())
        self._next_id += 1
        self.active.append(track)
        return track

    def _expire(self, time: float) -> list[TrackState]:
        ended = [t for t in self.active if time - t.last_seen > self.max_lost]
        self.active = [t for t in self.active if time - t.last_seen <= self.max_lost]
        return ended


class ShotDetector:
    """Flags shot cuts: the hue–saturation histogram of a small copy of the frame changes by
    more than ``threshold`` (half the L1 distance of the normalised histograms, 0..1).

    On the shared Hamilton clip the three cuts score 0.39–0.65 and the largest change inside a
    shot 0.20; on the 1080p crowd clip nothing exceeds 0.08.
    """

    def __init__(self, threshold: float = 0.3, bins: int = 16) -> None:
        self.threshold = threshold
        self.bins = bins
        self._previous: npt.NDArray[np.float32] | None = None

    def histogram(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """The normalised (bins × bins) hue–saturation histogram of an RGB image, flattened."""
        small = cv2.resize(image, (64, 36), interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1], None, [self.bins, self.bins], [0, 180, 0, 256])
        flat = hist.ravel().astype(np.float32)
        return flat / max(float(flat.sum()), 1.0)

    def is_cut(self, image: npt.NDArray[np.uint8]) -> bool:
        """Whether ``image`` starts a new shot (the first frame does not)."""
        hist = self.histogram(image)
        previous, self._previous = self._previous, hist
        if previous is None:
            return False
        return float(np.abs(hist - previous).sum()) / 2 > self.threshold
